// The storefront's behaviour: search with suggestions, the three widgets, accounts, hearts and bags.
// Everything comes from this server's /v1 API; the page's events go to /shop/events (no API key here).
"use strict";

const $ = (id) => document.getElementById(id);
const state = JSON.parse($("state").textContent);
const CURRENCY_SIGNS = { USD: "$", EUR: "€", GBP: "£" };
const PICKS = 10;
// smooth scrolling, unless the shopper asked for less motion
const SCROLL = window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
const PATHS = {
  known: "from their history",
  new_with_events: "from what they just liked",
  demographics: "popular with shoppers like them",
  nothing: "popular lately",
};

let shopper = state.shopper; // the logged-in shopper {user_id, name, email}, or null
let staffUser = ""; // a training shopper chosen by shop staff, or ""
let current = null; // the selected product's card
const cards = new Map(); // product id -> Promise of its card
const latest = {}; // the newest request of each list, so a slow answer never replaces a newer one
const wished = new Set();
const bagged = new Set();

// -- helpers -----------------------------------------------------------------------------------------------------

async function api(path, body) {
  const options = { headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw new Error(detail(data) || `${response.status} ${response.statusText}`);
  return data;
}

function detail(data) {
  const d = data && data.detail;
  if (typeof d === "string") return d;
  if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).slice(1).join(".") || "input"}: ${e.msg}`).join("; ");
  return "";
}

function ticket(name) {
  latest[name] = (latest[name] || 0) + 1;
  return latest[name];
}

function priceText(card) {
  if (card.price === null || card.price === undefined) return "";
  const amount = Number(card.price).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const sign = CURRENCY_SIGNS[card.currency];
  return sign ? `${sign}${amount}` : `${card.currency || ""} ${amount}`.trim();
}

function pictureUrl(id) {
  return `/images/${encodeURIComponent(id)}`;
}

function productCard(id) {
  if (!cards.has(id)) {
    const promise = api(`/v1/products/${encodeURIComponent(id)}`);
    promise.catch(() => cards.delete(id));
    cards.set(id, promise);
  }
  return cards.get(id);
}

function remember(found) {
  for (const card of found) cards.set(card.product_id, Promise.resolve(card));
}

let toastTimer = null;
function toast(message, isError = false) {
  const box = $("toast");
  box.textContent = message;
  box.classList.toggle("error", isError);
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (box.hidden = true), 3200);
}

function setStatus(id, message, isError = false) {
  const el = $(id);
  el.textContent = message;
  el.classList.toggle("error", isError);
}

// -- product cards -----------------------------------------------------------------------------------------------

function figures(pick) {
  const parts = [];
  if (pick.confidence !== null && pick.confidence !== undefined) {
    parts.push(`confidence ${Math.round(pick.confidence * 100)}%`);
  }
  if (pick.lift !== null && pick.lift !== undefined) parts.push(`lift ${Number(pick.lift).toFixed(1)}×`);
  return parts.join(" · ");
}

function makeCard(pick) {
  const node = $("card-template").content.firstElementChild.cloneNode(true);
  const slot = (name) => node.querySelector(`[data-slot="${name}"]`);
  node.dataset.product = pick.product_id;
  if (pick.has_picture) {
    const img = slot("img");
    img.src = pictureUrl(pick.product_id);
    img.alt = pick.title || "";
    slot("nopic").remove();
  } else {
    slot("img").remove();
  }
  slot("brand").textContent = pick.brand || "";
  slot("title").textContent = pick.title || pick.product_id;
  slot("price").textContent = priceText(pick);
  slot("reason").textContent = pick.reason || "";
  slot("figures").textContent = figures(pick);
  markButtons(node, pick.product_id);
  return node;
}

function markButtons(node, id) {
  node.querySelector(".heart").classList.toggle("on", wished.has(id));
  const bag = node.querySelector(".bag");
  bag.classList.toggle("done", bagged.has(id));
  bag.querySelector("span").textContent = bagged.has(id) ? "In your bag" : "Add to bag";
}

async function renderPicks(grid, picks) {
  const full = await Promise.all(
    picks.map((pick) =>
      productCard(pick.product_id)
        .then((card) => ({ ...card, ...pick }))
        .catch(() => ({ ...pick })),
    ),
  );
  grid.replaceChildren(...full.map(makeCard));
  return full;
}

// One widget's picks into its grid: the answer of `path`, drawn only while `mine` is the widget's latest
// request (a later search or model choice takes over). The answer and the cards shown, or null when a later
// request took over or it failed (the failure is said in the widget's status line and the grid emptied).
async function loadPicks(name, mine, grid, statusId, path) {
  try {
    const body = await api(path);
    if (mine !== latest[name]) return null;
    const shown = await renderPicks(grid, body.recommendations);
    return mine === latest[name] ? { body, shown } : null;
  } catch (error) {
    if (mine !== latest[name]) return null;
    grid.replaceChildren();
    setStatus(statusId, error.message, true);
    return null;
  }
}

// -- search and the selected product (Top Picks Together) -----------------------------------------------------

const search = $("search");
const suggestions = $("suggestions");

function hideSuggestions() {
  suggestions.hidden = true;
  search.setAttribute("aria-expanded", "false");
}

async function suggest() {
  const q = search.value.trim();
  const mine = ticket("search");
  if (!q) return hideSuggestions();
  let found;
  try {
    found = await api(`/v1/products?q=${encodeURIComponent(q)}&n=${PICKS}`);
  } catch (error) {
    found = [];
  }
  if (mine !== latest.search) return;
  remember(found);
  const items = found.map((card, i) => {
    const li = document.createElement("li");
    li.setAttribute("role", "option");
    li.id = `suggestion-${i}`;
    li.dataset.id = card.product_id;
    li.setAttribute("aria-selected", i === 0 ? "true" : "false");
    let thumb;
    if (card.has_picture) {
      thumb = document.createElement("img");
      thumb.src = pictureUrl(card.product_id);
      thumb.alt = "";
    } else {
      thumb = document.createElement("span");
      thumb.className = "thumb";
    }
    const title = document.createElement("span");
    title.className = "s-title";
    title.textContent = card.title || card.product_id;
    const price = document.createElement("span");
    price.className = "s-price";
    price.textContent = priceText(card);
    li.append(thumb, title, price);
    return li;
  });
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = `No product title holds “${q}”.`;
    items.push(li);
  }
  suggestions.replaceChildren(...items);
  suggestions.hidden = false;
  search.setAttribute("aria-expanded", "true");
}

function moveSuggestion(step) {
  const options = [...suggestions.querySelectorAll("li[data-id]")];
  if (!options.length) return;
  const at = options.findIndex((li) => li.getAttribute("aria-selected") === "true");
  const next = (at + step + options.length) % options.length;
  options.forEach((li, i) => li.setAttribute("aria-selected", i === next ? "true" : "false"));
  options[next].scrollIntoView({ block: "nearest" });
}

let suggestTimer = null;
search.addEventListener("input", () => {
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(suggest, 150);
});
search.addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    moveSuggestion(event.key === "ArrowDown" ? 1 : -1);
  } else if (event.key === "Escape") {
    hideSuggestions();
  }
});
$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const chosen = suggestions.querySelector('li[aria-selected="true"][data-id]');
  if (!suggestions.hidden && chosen) selectProduct(chosen.dataset.id);
});
suggestions.addEventListener("mousedown", (event) => {
  const li = event.target.closest("li[data-id]");
  if (!li) return;
  event.preventDefault(); // keep the focus in the box until the choice is made
  selectProduct(li.dataset.id);
});
search.addEventListener("blur", () => setTimeout(hideSuggestions, 120));

async function selectProduct(id) {
  hideSuggestions();
  let card;
  try {
    card = await productCard(id);
  } catch (error) {
    toast(error.message, true);
    return;
  }
  current = card;
  search.value = card.title || "";
  const url = new URL(window.location.href);
  url.searchParams.set("product", id);
  window.history.replaceState(null, "", url);
  showSelected(card);
  $("trending-block").hidden = true; // the widgets take its place once a product is chosen
  $("together").scrollIntoView({ behavior: SCROLL, block: "start" });
  await Promise.all([loadTogether(), loadSimilar()]);
}

function showSelected(card) {
  $("selected").hidden = false;
  $("selected").querySelector(".selected-info").dataset.product = card.product_id;
  const img = $("selected-img");
  if (card.has_picture) {
    img.src = pictureUrl(card.product_id);
    img.alt = card.title || "";
  } else {
    img.removeAttribute("src");
  }
  img.hidden = !card.has_picture;
  $("selected-nopic").hidden = card.has_picture;
  $("selected-brand").textContent = card.brand || "";
  $("selected-title").textContent = card.title || card.product_id;
  $("selected-meta").textContent = [card.department, card.color, card.target_audience].filter(Boolean).join(" · ");
  $("selected-price").textContent = priceText(card);
  const stock = $("selected-stock");
  const out = card.is_available === false;
  stock.textContent = out ? "Out of stock" : "In stock";
  stock.classList.toggle("out", out);
  markButtons($("selected"), card.product_id);
}

async function loadTogether() {
  const mine = ticket("together");
  $("together-block").hidden = false;
  setStatus("together-status", "Finding what goes with it…");
  const path = `/v1/products/${encodeURIComponent(current.product_id)}/together?n=${PICKS}`;
  const got = await loadPicks("together", mine, $("together-grid"), "together-status", path);
  if (got) setStatus("together-status", got.shown.length ? "" : "Nothing is bought with it yet.");
}

// -- Similar Styles ------------------------------------------------------------------------------------------

async function loadSimilar() {
  const model = $("model").value;
  if (!current || !model) return;
  const mine = ticket("similar");
  const grid = $("similar-grid");
  grid.setAttribute("aria-busy", "true");
  setStatus("similar-status", `Finding look-alikes by ${model}…`);
  const id = encodeURIComponent(current.product_id);
  const path = `/v1/products/${id}/similar?n=${PICKS}&model=${encodeURIComponent(model)}`;
  const got = await loadPicks("similar", mine, grid, "similar-status", path); // never throws
  if (got) {
    $("similar-lede").textContent = `Look-alikes of “${current.title || current.product_id}”, matched by ${model}.`;
    grid.dataset.model = model;
    setStatus("similar-status", got.shown.length ? "" : "No look-alikes found.");
  }
  if (mine === latest.similar) grid.removeAttribute("aria-busy");
}

$("model").addEventListener("change", loadSimilar);

// -- accounts and Personalized Picks ---------------------------------------------------------------------------

function acting() {
  if (staffUser) return { id: staffUser, label: staffUser, staff: true };
  if (shopper) return { id: shopper.user_id, label: shopper.name, staff: false };
  return null;
}

function showAccount() {
  $("account-in").hidden = !shopper;
  $("account-out").hidden = !!shopper;
  $("chip-logout").hidden = !shopper;
  $("chip-login").hidden = !!shopper;
  $("chip-name").textContent = shopper ? `Hi, ${shopper.name}` : "";
  $("me-name").textContent = shopper ? shopper.name : "";
  $("me-email").textContent = shopper ? shopper.email : "";
  const who = acting();
  $("acting").textContent = who
    ? `Picks for ${who.label}${who.staff ? " (selected by staff)" : ""}`
    : "Log in or select a user to see their picks.";
}

async function loadPersonal() {
  const who = acting();
  const grid = $("personal-grid");
  const mine = ticket("personal");
  if (!who) {
    grid.replaceChildren();
    delete grid.dataset.path;
    setStatus("personal-status", "Log in, sign up, or select a user first.");
    return;
  }
  setStatus("personal-status", "Picking for you…");
  const path = `/v1/users/${encodeURIComponent(who.id)}/recommendations?n=${PICKS}`;
  const got = await loadPicks("personal", mine, grid, "personal-status", path);
  if (got) {
    grid.dataset.path = got.body.path;
    const how = PATHS[got.body.path] || got.body.path;
    setStatus("personal-status", got.shown.length ? `${got.shown.length} picks, ${how}.` : "No picks yet.");
  } else if (mine === latest.personal) {
    delete grid.dataset.path; // it failed: the emptied grid shows no path
  }
}

function formData(form) {
  const values = {};
  for (const [key, value] of new FormData(form)) {
    if (String(value).trim() !== "") values[key] = String(value).trim();
  }
  return values;
}

function formMessage(form, message, isError) {
  const el = form.querySelector(".form-message");
  el.textContent = message;
  el.classList.toggle("error", isError);
  el.classList.toggle("ok", !isError);
}

function showTab(which) {
  const login = which === "login";
  $("tab-login").setAttribute("aria-selected", String(login));
  $("tab-signup").setAttribute("aria-selected", String(!login));
  $("login-form").hidden = !login;
  $("signup-form").hidden = login;
}

$("tab-login").addEventListener("click", () => showTab("login"));
$("tab-signup").addEventListener("click", () => showTab("signup"));

$("signup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const values = formData(form);
  values.password = form.elements.password.value; // spaces count in a password
  try {
    const created = await api("/v1/users", values);
    form.reset();
    showTab("login");
    const login = $("login-form");
    login.elements.email.value = created.email;
    formMessage(login, `Welcome, ${created.name}! Your account is ready: log in.`, false);
    login.elements.password.focus();
  } catch (error) {
    formMessage(form, error.message, true);
  }
});

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  try {
    shopper = await api("/v1/login", {
      email: form.elements.email.value.trim(),
      password: form.elements.password.value,
    });
    form.reset();
    formMessage(form, "", false);
    staffUser = "";
    $("staff-user").value = "";
    showAccount();
    toast(`Welcome back, ${shopper.name}`);
    await loadPersonal();
  } catch (error) {
    formMessage(form, error.message, true);
  }
});

async function logOut() {
  try {
    await api("/v1/logout", {});
  } catch (error) {
    toast(error.message, true);
    return;
  }
  shopper = null;
  showAccount();
  toast("Logged out");
  await loadPersonal();
}

$("logout").addEventListener("click", logOut);
$("chip-logout").addEventListener("click", logOut);

$("staff-user").addEventListener("change", (event) => {
  staffUser = event.currentTarget.value;
  showAccount();
  loadPersonal();
});

$("get-recs").addEventListener("click", loadPersonal);

// -- hearts and bags -------------------------------------------------------------------------------------------

async function sendEvent(productId, kind, button) {
  const who = acting();
  if (!who) {
    toast("Log in or select a user first, so we know whose picks to change", true);
    $("personal").scrollIntoView({ behavior: SCROLL });
    return;
  }
  const body = { product_id: productId, kind };
  if (who.staff) body.user_id = who.id;
  button.disabled = true;
  try {
    await api("/shop/events", body);
  } catch (error) {
    toast(error.message, true);
    return;
  } finally {
    button.disabled = false;
  }
  (kind === "bag" ? bagged : wished).add(productId);
  for (const holder of document.querySelectorAll(`[data-product="${CSS.escape(productId)}"]`)) {
    const card = holder.closest(".card, .selected");
    if (card) markButtons(card, productId);
  }
  toast(kind === "bag" ? "Added to the bag: Personalized Picks updated" : "Saved to wishlist: Personalized Picks updated");
  await loadPersonal();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  const holder = button && button.closest("[data-product]");
  const id = holder && holder.dataset.product;
  if (!id) return;
  if (button.dataset.action === "select") selectProduct(id);
  else sendEvent(id, button.dataset.action, button);
});

// -- start -----------------------------------------------------------------------------------------------------

showAccount();
if (shopper) loadPersonal();
const asked = new URLSearchParams(window.location.search).get("product");
if (asked) selectProduct(asked);
