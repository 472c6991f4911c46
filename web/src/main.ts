// The workbench: sign-in, then the pages of the caller's role, by hash route (#/queue, #/case/<id>, …) so that
// the server serves one page and a reload keeps the place.

import "./style.css";
import { api, attempt, sessionToken, setExpiredHandler, setSessionToken, setMaxInFlight, explainError } from "./api.js";
import { state, setDictionaries, Role, role, orgName, label } from "./state.js";
import { h, mount, notice } from "./ui.js";
import { loginPage } from "./pages/login.js";
import { registerPage, queuePage, boardPage, casesPage } from "./pages/county.js";
import { inboxPage } from "./pages/township.js";
import { casePage } from "./pages/case.js";
import { dashboardPage, drillPage, fundsPage, reportPage } from "./pages/leader.js";
import { passwordPage } from "./pages/password.js";

export type Page = (main: HTMLElement, arg: string) => Promise<void> | void;

interface Route {
  path: string;
  title: string;
  page: Page;
  roles: Role[];
  /** Shown in the navigation (the case page and drill list are reached from elsewhere). */
  nav: boolean;
}

const COUNTY = [Role.COUNTY_CLERK, Role.ADMIN];
const EVERYONE = [Role.COUNTY_CLERK, Role.ADMIN, Role.TOWNSHIP_CLERK, Role.LEADER, Role.AUDITOR, Role.FIELD_OFFICER, Role.AGENCY];

const routes: Route[] = [
  { path: "queue", title: "待分办", page: queuePage, roles: COUNTY, nav: true },
  { path: "register", title: "登记", page: registerPage, roles: COUNTY, nav: true },
  { path: "board", title: "超期预警", page: boardPage, roles: [...COUNTY, Role.LEADER, Role.AUDITOR], nav: true },
  { path: "inbox", title: "待办件", page: inboxPage, roles: [Role.TOWNSHIP_CLERK], nav: true },
  { path: "dashboard", title: "综合看板", page: dashboardPage, roles: [Role.LEADER, Role.AUDITOR, ...COUNTY], nav: true },
  { path: "funds", title: "经费审批", page: fundsPage, roles: [Role.LEADER, ...COUNTY], nav: true },
  { path: "report", title: "自评报告", page: reportPage, roles: [Role.LEADER, Role.AUDITOR, ...COUNTY], nav: true },
  { path: "cases", title: "案件查询", page: casesPage, roles: EVERYONE, nav: true },
  { path: "case", title: "案件", page: casePage, roles: EVERYONE, nav: false },
  { path: "drill", title: "明细", page: drillPage, roles: EVERYONE, nav: false },
  { path: "password", title: "修改密码", page: passwordPage, roles: EVERYONE, nav: false },
];

/** Where each role starts. */
function home(): string {
  switch (role()) {
    case Role.TOWNSHIP_CLERK:
      return "inbox";
    case Role.LEADER:
    case Role.AUDITOR:
      return "dashboard";
    case Role.COUNTY_CLERK:
    case Role.ADMIN:
      return "queue";
    default:
      return "cases";
  }
}

const root = document.getElementById("app")!;

/** Sign-in with an optional message (why the user is here again). */
function showLogin(message?: string): void {
  state.caller = null;
  document.title = "登录 - 信访工作台";
  loginPage(root, message, async () => {
    if (!(await loadSession())) return;
    // Each role starts on its own page; replaceState so that the route runs once, here.
    history.replaceState(null, "", `#/${home()}`);
    await route();
  });
}

setExpiredHandler((message) => showLogin(message));

/** The caller and the dictionaries, once per sign-in. */
async function loadSession(): Promise<boolean> {
  const caller = await attempt(() => api.session.getCaller({}));
  if (!caller.ok) {
    if (caller.error.kind !== "expired") showLogin(caller.error.message);
    return false;
  }
  state.caller = caller.value;
  setMaxInFlight(caller.value.maxInFlight);
  const dictionaries = await attempt(() => api.dictionary.getDictionaries({}));
  if (!dictionaries.ok) {
    if (dictionaries.error.kind !== "expired") showLogin(dictionaries.error.message);
    return false;
  }
  setDictionaries(dictionaries.value);
  return true;
}

async function signOut(): Promise<void> {
  // Ending the session on the server matters more than its answer: the token is forgotten either way.
  try {
    await api.session.signOut({});
  } catch (e) {
    console.warn("sign-out", explainError(e).message);
  }
  setSessionToken(null);
  history.replaceState(null, "", "#/");
  showLogin("已退出登录");
}

let generation = 0;

async function route(): Promise<void> {
  if (!sessionToken()) return showLogin();
  if (!state.caller && !(await loadSession())) return;
  // "#/case/<id>", "#/dashboard?year=2025": the path, its argument, and a query the page reads itself.
  const [path = "", arg = ""] = location.hash.replace(/^#\/?/, "").split("?")[0]!.split("/");
  const r = routes.find((x) => x.path === path && x.roles.includes(role()));
  if (!r) {
    location.replace(`#/${home()}`);
    return;
  }
  const caller = state.caller!;
  const main = h("main", { id: "page", "data-page": r.path });
  const nav = h(
    "nav",
    null,
    ...routes
      .filter((x) => x.nav && x.roles.includes(role()))
      .map((x) => h("a", { href: `#/${x.path}`, class: x.path === r.path ? "active" : undefined }, x.title)),
  );
  mount(
    root,
    h(
      "header",
      null,
      h("strong", { class: "brand" }, "信访工作台"),
      nav,
      h(
        "span",
        { class: "who", id: "who" },
        `${caller.name} · ${label("Role", caller.role)} · ${orgName(caller.orgUnit?.code ?? "")}`,
      ),
      h("a", { class: "link", href: "#/password", id: "change-password" }, "修改密码"),
      h("button", { class: "link", id: "sign-out", onclick: () => void signOut() }, "退出"),
    ),
    main,
  );
  document.title = `${r.title} - 信访工作台`;
  const mine = ++generation;
  performance.mark("route-start");
  try {
    await r.page(main, decodeURIComponent(arg));
  } catch (e) {
    // A page that throws shows why instead of a blank screen; an expired session goes back to sign-in.
    const error = explainError(e);
    if (error.kind === "expired") {
      setSessionToken(null);
      showLogin(error.message);
    } else if (mine === generation) {
      main.replaceChildren(h("h2", null, r.title), notice("error", error.message));
    }
  }
}

window.addEventListener("hashchange", () => void route());
void route();
