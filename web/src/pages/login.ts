// 登录: name and password → a session token (SessionService.SignIn), kept for this tab.

import { api, explainError, setSessionToken } from "../api.js";
import { h, mount, notice } from "../ui.js";

export function loginPage(root: HTMLElement, message: string | undefined, signedIn: () => Promise<void>): void {
  const user = h("input", { name: "user_name", id: "user-name", autocomplete: "username", required: true });
  const password = h("input", {
    name: "password",
    id: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const status = h("div", { id: "login-status" }, message ? notice(message === "已退出登录" ? "info" : "error", message) : null);
  const submit = h("button", { type: "submit", class: "primary", id: "sign-in" }, "登录");
  const form = h(
    "form",
    { class: "login", id: "login-form" },
    h("h1", null, "县信访局 信访工作台"),
    h("label", { class: "field" }, h("span", null, "用户名"), user),
    h("label", { class: "field" }, h("span", null, "密码"), password),
    submit,
    status,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    mount(status, notice("info", "正在登录…"));
    void (async () => {
      try {
        const res = await api.session.signIn({ userName: user.value.trim(), password: password.value });
        setSessionToken(res.sessionToken);
        await signedIn();
      } catch (e) {
        mount(status, notice("error", explainError(e, true).message));
        password.value = "";
        password.focus();
      } finally {
        submit.disabled = false;
      }
    })();
  });
  mount(root, h("div", { class: "login-wrap" }, form));
  (user.value ? password : user).focus();
  // The first page is usable from here: what docs/performance.md measures as "ready".
  if (!performance.getEntriesByName("workbench-ready").length) performance.mark("workbench-ready");
}
