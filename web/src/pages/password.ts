// 修改密码: the signed-in person changes their password (SessionService.ChangePassword). Their other sessions
// end; this one stays.

import { api, attempt } from "../api.js";
import { busy, field, h, mount, notice } from "../ui.js";

export function passwordPage(main: HTMLElement): void {
  const old = h("input", { type: "password", id: "old-password", autocomplete: "current-password", required: true });
  const next = h("input", { type: "password", id: "new-password", autocomplete: "new-password", minlength: 10, required: true });
  const again = h("input", { type: "password", id: "new-password-again", autocomplete: "new-password", required: true });
  const status = h("div", { id: "password-status" });
  const submit = h("button", { type: "submit", class: "primary", id: "password-submit" }, "修改密码");
  const form = h(
    "form",
    { class: "card narrow" },
    field("原密码", old),
    field("新密码", next, "至少10个字符"),
    field("再次输入新密码", again),
    submit,
    status,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (next.value !== again.value) return mount(status, notice("error", "两次输入的新密码不一致"));
    void busy(submit, async () => {
      const res = await attempt(() => api.session.changePassword({ oldPassword: old.value, newPassword: next.value }));
      if (!res.ok) return mount(status, notice("error", res.error.message));
      form.reset();
      mount(status, notice("ok", "密码已修改，其他设备上的登录已退出"));
    });
  });
  mount(main, h("h2", null, "修改密码"), form);
}
