"use strict";
// The session cookie travels by itself; unsafe requests must also send the CSRF token,
// which the server keeps in the readable `csrftoken` cookie (it changes at login).
function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}
async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const res = await fetch(path, { method, headers, credentials: "same-origin",
                                  body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
const $ = (id) => document.getElementById(id);
function showError(res) { $("error").textContent = res.body && res.body.detail ? res.body.detail : "Error " + res.status; }

async function refresh() {
  $("error").textContent = "";
  // Session only: an anonymous answer is a plain 403, never a Basic prompt.
  const me = await api("GET", "/api/session/whoami");
  if (me.status !== 200) {
    $("status").textContent = "You are not signed in.";
    // Nothing of the previous user stays in the page.
    $("who").textContent = "";
    $("books").replaceChildren();
    $("login").hidden = false; $("app").hidden = true;
    return;
  }
  $("who").textContent = me.body.username;
  $("login").hidden = true; $("app").hidden = false;
  const books = await api("GET", "/api/books");
  const list = $("books");
  list.replaceChildren();
  for (const b of books.body || []) {
    const li = document.createElement("li");
    li.textContent = b.title + " by " + b.author;
    li.dataset.id = b.id;
    list.append(li);
  }
  $("status").textContent = (books.body || []).length + " books";
}

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  await api("GET", "/api/auth/csrf");
  const res = await api("POST", "/api/auth/login", { username: $("username").value, password: $("password").value });
  if (res.status !== 200) return showError(res);
  $("password").value = "";
  await refresh();
});
$("add").addEventListener("submit", async (e) => {
  e.preventDefault();
  const res = await api("POST", "/api/books", { title: $("title").value, author: $("author").value });
  if (res.status !== 201) return showError(res);
  $("title").value = ""; $("author").value = "";
  await refresh();
});
$("logout").addEventListener("click", async () => {
  const res = await api("POST", "/api/auth/logout");
  if (res.status !== 204) return showError(res);
  await refresh();
});
refresh().catch((err) => { $("error").textContent = String(err); });
