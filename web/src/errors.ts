// What a failed call means to a person, in Chinese. Kept apart from the transport so that `npm test` checks it.

import type { Violation } from "./details.js";
import { formatDateTime } from "./format.js";

/** The gRPC status codes the workbench tells apart (the numbers are gRPC's, as @connectrpc/connect's Code). */
export enum Status {
  Canceled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  Unauthenticated = 16,
}

export type ErrorKind = "credentials" | "locked" | "expired" | "unreachable" | "stale" | "other";

export interface Explained {
  kind: ErrorKind;
  message: string;
}

/** Reasons of FAILED_PRECONDITION (cases.proto) that a clerk meets, in the words of the bureau. */
const REASONS: Record<string, string> = {
  CASE_NOT_ASSIGNED: "案件尚未转交办",
  CASE_NOT_ACCEPTED: "案件尚未受理",
  CASE_ALREADY_ACCEPTED: "案件已受理",
  CASE_ALREADY_CONCLUDED: "案件已办结",
  CASE_FINAL: "案件已终结",
  CASE_DECLINED: "案件已不予受理",
  OBJECTION_WINDOW_CLOSED: "已超过异议期限（转交办后5个工作日）",
  EXTENSION_ALREADY_GRANTED: "已延期过一次，不能再次延期",
  EXTENSION_TOO_LATE: "已超过办结期限，不能延期",
  SAME_UNIT: "已转交该单位",
  OBJECTION_PENDING: "异议待信访局决定",
  OBJECTION_ALREADY_RAISED: "已提出过异议",
  NOT_SUPERVISED: "案件未在督办中",
  SUPERVISION_ALREADY_REPLIED: "督办已回复",
  NO_STATUTORY_DEADLINE: "该类诉求无法定办理期限，不能延期",
};

/** The form's labels of the request fields the server may name as bad (google.rpc.BadRequest paths, AIP
 *  style: `visit.petitioners[0].id_number`), by the path with its indexes taken out. A path not here is
 *  named by its last part (`LEAF_LABELS`), then shown as the server wrote it. */
const FIELD_LABELS: Record<string, string> = {
  "visit.visited_at": "来访时间",
  "visit.level": "来访层级",
  "visit.place_name": "接待地点",
  "visit.headcount": "人数",
  "letter.received_at": "收信时间",
  "letter.channel": "渠道",
  "letter.source_reference": "来信编号",
  level: "督办层级",
  method: "督办方式",
  reason: "理由",
  days: "延期天数",
  notified_on: "告知信访人日期",
  mode: "分办方式",
};

/** Labels by the last part of a path, wherever it stands (a petitioner's fields in a visit or a letter,
 *  the matter's, a step's). */
const LEAF_LABELS: Record<string, string> = {
  petitioners: "信访人",
  name: "姓名",
  id_number: "身份证号",
  phone: "电话",
  address: "住址",
  matter: "信访事项",
  content: "诉求内容（事实与理由）",
  demands: "主要诉求",
  category: "问题类别",
  problem_org_code: "问题属地",
  claim_type: "诉求类型",
  accused_org_code: "被检举控告单位",
  link_case_id: "关联案件",
  occurred_at: "时间",
  responsible_org_code: "承办单位",
  handling_deadline: "交办期限",
  ground: "不予受理依据",
  approved_by: "批准人",
  opinion: "答复意见",
  completion_report: "办结报告",
  reply: "督办回复",
  comment: "批示",
  user_name: "用户名",
  password: "密码",
  old_password: "原密码",
  new_password: "新密码",
  amount: "金额",
  payee: "收款人",
  description: "说明",
};

/** The Chinese name of a request field, as the form labels it: `visit.petitioners[0].id_number` is
 *  "第1位信访人的身份证号". Unknown paths come back as they are, so that nothing the server named is lost. */
export function fieldLabel(path: string): string {
  const bare = path.replace(/\[\d+\]/g, "");
  const whole = FIELD_LABELS[bare];
  const leaf = bare.split(".").pop() ?? bare;
  const own = whole ?? LEAF_LABELS[leaf];
  if (!own) return path;
  // A petitioner's field says which petitioner, counted from 1 as a clerk counts them.
  const who = /petitioners\[(\d+)\]\./.exec(path);
  return who ? `第${Number(who[1]) + 1}位信访人的${own}` : own;
}

/** The message of a failed call. `code` and `rawMessage` come from the ConnectError; `reason` from its
 *  google.rpc.ErrorInfo when the server sent one; `signingIn` tells a wrong password from an expired
 *  session, which arrive with the same code. */
export function explain(
  code: number,
  rawMessage: string,
  reason = "",
  signingIn = false,
  bad: readonly Violation[] = [],
): Explained {
  const message = rawMessage.replace(/^\[[a-z_]+\]\s*/, "");
  switch (code) {
    case Status.Unauthenticated:
      if (signingIn) return { kind: "credentials", message: "用户名或密码错误" };
      // A wrong old password when changing it is not the end of the session.
      if (/^wrong (user name or )?password/.test(message)) return { kind: "credentials", message: "原密码错误" };
      if (/session expired/.test(message)) return { kind: "expired", message: "登录已超时，请重新登录" };
      // Ended elsewhere: signed out, password set again, account disabled.
      return { kind: "expired", message: "登录已失效，请重新登录" };
    case Status.FailedPrecondition: {
      const locked = /^account locked until (\S+)/.exec(message);
      if (locked) {
        const until = Date.parse(locked[1]!);
        const when = Number.isNaN(until) ? locked[1] : formatDateTime({ seconds: Math.floor(until / 1000) });
        return { kind: "locked", message: `账户因多次密码错误已锁定，请于北京时间 ${when} 后再试` };
      }
      const known = REASONS[reason];
      return { kind: "other", message: known ? `操作未完成：${known}` : `操作未完成：${message}` };
    }
    case Status.Unavailable:
    case Status.DeadlineExceeded:
      return { kind: "unreachable", message: "无法连接服务器，请检查网络或稍后再试" };
    case Status.Unknown:
    case Status.Canceled:
      // A fetch that never reached the server (stopped, restarting, network down) surfaces as unknown.
      if (/fetch|network|load failed|connection/i.test(message)) {
        return { kind: "unreachable", message: "无法连接服务器，请检查网络或稍后再试" };
      }
      return { kind: "other", message: `服务器错误：${message}` };
    case Status.PermissionDenied:
      return { kind: "other", message: "无权执行此操作或查看此内容" };
    case Status.NotFound:
      return { kind: "other", message: "未找到（或无权查看）" };
    case Status.InvalidArgument:
      // Each field by its label on the form, with the server's own words about it; the server's whole
      // message only when it named no field.
      if (bad.length > 0) {
        return { kind: "other", message: `填写有误：${bad.map((v) => `${fieldLabel(v.field)}（${v.description}）`).join("；")}` };
      }
      return { kind: "other", message: `填写有误：${message}` };
    case Status.Aborted:
      return { kind: "stale", message: "案件已被他人更新，已显示最新情况，请确认后重试" };
    case Status.ResourceExhausted:
      return { kind: "other", message: "请求过于频繁，请稍后再试" };
    default:
      return { kind: "other", message: `服务器错误：${message}` };
  }
}
