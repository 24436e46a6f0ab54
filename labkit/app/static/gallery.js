// labkit's sample gallery: one button per sample photo; a click (or Enter/Space) asks Python to classify it.

function render({ model, el }) {
  el.classList.add("labkit-gallery");
  el.setAttribute("role", "region"); // a landmark, named by its heading
  const heading = document.createElement("p");
  heading.className = "labkit-gallery-title";
  heading.id = `labkit-gallery-${Math.random().toString(36).slice(2)}`;
  heading.textContent = "No photo at hand? Try one of these:";
  el.setAttribute("aria-labelledby", heading.id);
  const list = document.createElement("ul");
  list.className = "labkit-gallery-list";
  list.setAttribute("aria-labelledby", heading.id);

  function draw() {
    list.replaceChildren(...model.get("samples").map((sample) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "labkit-sample";
      button.dataset.file = sample.file;
      button.setAttribute("aria-label", sample.button);
      const image = document.createElement("img");
      image.src = sample.thumbnail;
      image.alt = `Sample photo: ${sample.label}`;
      const caption = document.createElement("span");
      caption.textContent = sample.label;
      button.append(image, caption);
      button.addEventListener("click", () => model.send({ kind: "sample", file: sample.file }));
      const item = document.createElement("li");
      item.append(button);
      return item;
    }));
  }
  model.on("change:samples", draw);
  draw();
  el.append(heading, list);
  return () => model.off("change:samples", draw);
}

export default { render };
