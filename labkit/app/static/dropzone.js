// labkit's photo intake: drop files on the page, paste from the clipboard, or snap one with the webcam.
// Each photo goes to Python (labkit.app.widgets.DropZone) as one custom message with its bytes as a buffer;
// nothing is kept in the widget's synced state, so a photo's bytes never linger in the kernel.

const INTAKE = ".labkit-intake"; // the dashed panel the dashboard puts this widget in
const UPLOAD = ".labkit-upload"; // ipywidgets' FileUpload button, in the same panel

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "onclick") element.addEventListener("click", value);
    else element.setAttribute(key, value);
  }
  element.append(...children);
  return element;
}

function timestamp() {
  return new Date().toTimeString().slice(0, 8);
}

// Say why the camera cannot be used, and what to do instead: getUserMedia's errors are terse.
function cameraProblem(error) {
  if (!window.isSecureContext) {
    return "The camera only works on a secure page: open the app over https, or at http://localhost on this " +
      "computer. You can still choose or drop a photo.";
  }
  switch (error && error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera access was refused. Allow the camera for this page (the camera icon in the address bar), " +
        "then try again, or choose a photo instead.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found. Connect one and try again, or choose a photo instead.";
    case "NotReadableError":
    case "AbortError":
      return "The camera is busy or not working (is another app using it?). Close that app and try again.";
    default:
      return "The camera could not be started" + (error && error.message ? ` (${error.message})` : "") +
        ". Choose or drop a photo instead.";
  }
}

function render({ model, el }) {
  el.classList.add("labkit-dropzone");
  const message = h("p", { class: "labkit-dropzone-message", role: "status", "aria-live": "polite" });
  const say = (text, kind = "info") => {
    message.textContent = text;
    message.dataset.kind = kind;
  };

  async function send(file, name) {
    if (file.size > model.get("max_bytes")) {
      // Too big to travel in one websocket message: Python only hears about it, and shows the limit.
      model.send({ kind: "too_large", name, size: file.size });
      return;
    }
    const bytes = await file.arrayBuffer();
    model.send({ kind: "photo", name, size: file.size }, undefined, [bytes]);
  }

  function sendAll(files, fallbackName) {
    say("");
    for (const file of files) send(file, file.name || fallbackName);
  }

  // Drag and drop. In Voilà the whole page is the drop target (a photo dropped beside the panel would otherwise
  // make the browser open it and leave the app); inside JupyterLab only the panel is, so Lab's own drops still work.
  const inVoila = () => document.body.dataset.voila !== undefined;
  const ours = (event) => inVoila() || Boolean(event.target.closest && event.target.closest(INTAKE));
  const carriesFiles = (event) => Array.from((event.dataTransfer && event.dataTransfer.types) || []).includes("Files");
  let depth = 0;
  const highlight = (on) => document.body.classList.toggle("labkit-dragging", on);

  function onDragEnter(event) {
    if (!carriesFiles(event) || !ours(event)) return;
    event.preventDefault();
    depth += 1;
    highlight(true);
  }
  function onDragOver(event) {
    if (!carriesFiles(event) || !ours(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  }
  function onDragLeave(event) {
    if (!carriesFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) highlight(false);
  }
  function onDrop(event) {
    if (!ours(event)) return;
    depth = 0;
    highlight(false);
    const files = Array.from((event.dataTransfer && event.dataTransfer.files) || []);
    if (!files.length) {
      if (event.dataTransfer && event.dataTransfer.types.length) {
        event.preventDefault();
        say("That was not a file. A picture dragged from a web page arrives as a link: save it to your " +
          "computer first, then drop the saved file.", "problem");
      }
      return;
    }
    event.preventDefault();
    sendAll(files, "dropped photo");
  }

  // Paste: an image copied in another program, or a screenshot, arrives as a file named "image.png".
  function onPaste(event) {
    if (!ours(event) && !el.contains(document.activeElement)) return;
    const files = Array.from((event.clipboardData && event.clipboardData.files) || []);
    if (!files.length) return;
    event.preventDefault();
    files.forEach((file, index) => send(file, `pasted image ${timestamp()}${files.length > 1 ? `-${index + 1}` : ""}` +
      (file.type === "image/jpeg" ? ".jpg" : ".png")));
  }

  // Webcam: a preview in a dialog, then one frame as a JPEG.
  const video = h("video", { autoplay: "", muted: "", playsinline: "", "aria-label": "Camera preview" });
  video.muted = true;
  const snap = h("button", { type: "button", class: "labkit-button labkit-primary", disabled: "" }, "Take photo");
  const cancel = h("button", { type: "button", class: "labkit-button" }, "Cancel");
  const dialog = h("dialog", { class: "labkit-camera", "aria-label": "Take a photo with the webcam" },
    h("p", { class: "labkit-camera-title" }, "Point the camera at something, then take the photo."),
    video, h("div", { class: "labkit-camera-actions" }, cancel, snap));
  let stream = null;

  function stopCamera() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    snap.disabled = true;
  }
  async function openCamera() {
    say("");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say(cameraProblem(null), "problem");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (error) {
      say(cameraProblem(error), "problem");
      return;
    }
    video.srcObject = stream;
    dialog.showModal();
    snap.focus();
  }
  video.addEventListener("loadeddata", () => { snap.disabled = false; });
  snap.addEventListener("click", () => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    dialog.close();
    canvas.toBlob((blob) => {
      if (blob) send(blob, `webcam photo ${timestamp()}.jpg`);
      else say("The camera gave no picture. Try again.", "problem");
    }, "image/jpeg", 0.9);
  });
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", stopCamera); // also on Escape

  const camera = h("button", { type: "button", class: "labkit-button labkit-camera-button", onclick: openCamera },
    h("span", { "aria-hidden": "true", class: "labkit-camera-icon" }), "Take a photo");
  el.append(camera, dialog, message);

  // FileUpload's button reads "Choose photos… (0)" (it counts files, and we empty it after each upload): give it a
  // clean accessible name; the CSS hides the count.
  // The button may not be on the page yet when this widget renders, so watch until it is.
  const labelUpload = () => {
    const buttons = document.querySelectorAll(`${INTAKE} ${UPLOAD}`);
    buttons.forEach((button) => button.setAttribute("aria-label", "Choose photos to classify"));
    if (buttons.length) watcher.disconnect();
  };
  const watcher = new MutationObserver(labelUpload);
  watcher.observe(document.body, { childList: true, subtree: true });
  labelUpload();

  const listeners = [["dragenter", onDragEnter], ["dragover", onDragOver], ["dragleave", onDragLeave],
    ["drop", onDrop], ["paste", onPaste]];
  listeners.forEach(([type, listener]) => document.addEventListener(type, listener));
  return () => {
    listeners.forEach(([type, listener]) => document.removeEventListener(type, listener));
    watcher.disconnect();
    stopCamera();
  };
}

export default { render };
