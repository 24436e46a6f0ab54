// A result card's "Show where it looked" button (labkit.app.widgets.WhereItLooked): a disclosure button
// (aria-expanded, aria-controls) over a panel holding the Grad-CAM overlay. The first opening asks Python to compute
// the overlay; the panel says "working" meanwhile, then shows the picture, or a short message if there is none.
// The button's words change with its state ("Show..." / "Hide..."), which is why it is a disclosure button rather
// than a toggle with aria-pressed: a pressed toggle whose label also changes reads twice over in a screen reader.

function render({ model, el }) {
  el.classList.add("labkit-looked");
  const panelId = `labkit-looked-${Math.random().toString(36).slice(2)}`;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "labkit-button labkit-looked-button";
  button.setAttribute("aria-controls", panelId);
  const icon = document.createElement("span");
  icon.className = "labkit-looked-icon";
  icon.setAttribute("aria-hidden", "true");
  const words = document.createElement("span");
  button.append(icon, words);

  const panel = document.createElement("div");
  panel.id = panelId;
  panel.className = "labkit-looked-panel";
  const status = document.createElement("p");
  status.className = "labkit-looked-status";
  status.setAttribute("role", "status");
  const figure = document.createElement("figure");
  figure.className = "labkit-looked-figure";
  const picture = document.createElement("img");
  picture.className = "labkit-looked-overlay";
  const caption = document.createElement("figcaption");
  figure.append(picture, caption);
  panel.append(status, figure);

  function draw() {
    const expanded = model.get("expanded");
    const state = model.get("state");
    words.textContent = expanded ? "Hide where it looked" : "Show where it looked";
    button.setAttribute("aria-expanded", String(expanded));
    panel.hidden = !expanded;
    panel.setAttribute("aria-busy", String(state === "working"));
    panel.dataset.state = state;
    if (state === "working") {
      status.textContent = "Working out where the model looked… the first time takes a few seconds.";
    } else if (state === "failed") {
      status.textContent = model.get("message");
    } else {
      status.textContent = "";
    }
    figure.hidden = state !== "ready";
    if (state === "ready" && picture.src !== model.get("overlay")) {
      picture.src = model.get("overlay");
      picture.alt = model.get("alt");
      caption.textContent = `Red and yellow: where the model found the most evidence for "${model.get("label")}". ` +
        "Blue: what it ignored.";
    }
  }

  button.addEventListener("click", () => {
    model.set("expanded", !model.get("expanded"));
    model.save_changes();
  });
  model.on("change", draw);
  draw();
  el.append(button, panel);
  return () => model.off("change", draw);
}

export default { render };
