// labkit's wayfinding on the app's page (labkit.app.widgets.Wayfinding): landmarks, so that assistive technology can
// jump between the page's parts, and each new result card brought into view, so that an answer never arrives unseen
// below the fold. The page's parts are ipywidgets boxes, which take no role of their own: this names them.

const APP = ".labkit-app";
const CARD = ".labkit-card.labkit-arriving"; // labkit.app.page.ARRIVING: the newest card
// The page's parts (CSS classes set by labkit.app.page) and the names a screen reader announces for them.
const REGIONS = [
  [".labkit-model-bar", "Which model answers"], // not "Model": that names the menu inside it
  [".labkit-intake", "Add photos"],
  [".labkit-results-section", "Results"],
];
// A new card is left where it is when this much of it is already on screen (pixels), else scrolled to.
const ENOUGH_IN_VIEW = 320;

function mark(app) {
  if (!app.hasAttribute("role")) app.setAttribute("role", "main");
  for (const [selector, name] of REGIONS) {
    const part = app.querySelector(selector);
    if (part && !part.hasAttribute("role")) {
      part.setAttribute("role", "region");
      part.setAttribute("aria-label", name);
    }
  }
}

function inView(card) {
  const box = card.getBoundingClientRect();
  const wanted = Math.min(ENOUGH_IN_VIEW, window.innerHeight / 2);
  return box.top >= 0 && box.top + wanted <= window.innerHeight;
}

function bringIntoView(card) {
  // Two frames: the card's content (its picture, its chart) is laid out by then.
  requestAnimationFrame(() => requestAnimationFrame(() => {
    if (!card.isConnected || inView(card)) return;
    const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    card.scrollIntoView({ block: "start", behavior: still ? "auto" : "smooth" });
  }));
}

function render({ el }) {
  el.classList.add("labkit-wayfinding");
  const followed = new WeakSet(); // the cards already brought into view (each once, when it arrives)
  const update = () => {
    const app = document.querySelector(APP);
    if (!app) return;
    mark(app);
    const newest = app.querySelector(CARD); // ipywidgets may add the card's classes after the card itself
    if (newest && !followed.has(newest)) {
      followed.add(newest);
      bringIntoView(newest);
    }
  };
  const watcher = new MutationObserver(update);
  watcher.observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["class"] });
  update();
  return () => watcher.disconnect();
}

export default { render };
