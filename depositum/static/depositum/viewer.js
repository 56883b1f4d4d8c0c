// Image viewer: zoom and pan with buttons, the keyboard, the mouse or touch.
//
// Without this script the viewer is the plain image, linked to the master
// access copy. The script shows the toolbar and removes that link, because a
// drag on the image would follow it.
(function () {
  "use strict";

  var ZOOM_STEP = 1.25;
  var MIN_SCALE = 1;
  var MAX_SCALE = 8;
  // Pixels that one arrow key press moves the image.
  var PAN_STEP = 40;

  function setUpViewer(viewer, number) {
    var frame = viewer.querySelector(".viewer-frame");
    var image = viewer.querySelector(".viewer-image");
    var toolbar = viewer.querySelector(".viewer-toolbar");
    var help = viewer.querySelector(".viewer-help");
    var output = viewer.querySelector(".viewer-scale");
    var zoomIn = viewer.querySelector("[data-zoom=in]");
    var zoomOut = viewer.querySelector("[data-zoom=out]");
    var state = { scale: 1, x: 0, y: 0 };
    var drag = null;

    var link = image.closest("a");
    if (link) {
      link.replaceWith(image);
    }
    toolbar.hidden = false;
    help.hidden = false;
    help.id = help.id || "viewer-help-" + number;
    frame.tabIndex = 0;
    frame.setAttribute("role", "group");
    frame.setAttribute("aria-label", image.alt);
    frame.setAttribute("aria-describedby", help.id);

    // Keep the zoomed image over the box of the unzoomed one.
    function clamp() {
      var width = image.offsetWidth;
      var height = image.offsetHeight;
      state.x = Math.min(0, Math.max(width - width * state.scale, state.x));
      state.y = Math.min(0, Math.max(height - height * state.scale, state.y));
    }

    function render() {
      clamp();
      image.style.transform =
        "translate(" + state.x + "px, " + state.y + "px) scale(" + state.scale + ")";
      output.textContent = Math.round(state.scale * 100) + "%";
      zoomIn.disabled = state.scale >= MAX_SCALE;
      zoomOut.disabled = state.scale <= MIN_SCALE;
      frame.classList.toggle("is-zoomed", state.scale > MIN_SCALE);
    }

    // Zoom by `factor` around the point (px, py) of the unzoomed image box.
    function zoom(factor, px, py) {
      var scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, state.scale * factor));
      if (px === undefined) {
        px = image.offsetWidth / 2;
        py = image.offsetHeight / 2;
      }
      state.x = px - ((px - state.x) * scale) / state.scale;
      state.y = py - ((py - state.y) * scale) / state.scale;
      state.scale = scale;
      render();
    }

    function reset() {
      state = { scale: 1, x: 0, y: 0 };
      render();
    }

    function pan(dx, dy) {
      state.x += dx;
      state.y += dy;
      render();
    }

    toolbar.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-zoom]");
      if (!button) {
        return;
      }
      var action = button.dataset.zoom;
      if (action === "in") {
        zoom(ZOOM_STEP);
      } else if (action === "out") {
        zoom(1 / ZOOM_STEP);
      } else {
        reset();
      }
    });

    frame.addEventListener("keydown", function (event) {
      var handled = true;
      switch (event.key) {
        case "+":
        case "=":
          zoom(ZOOM_STEP);
          break;
        case "-":
          zoom(1 / ZOOM_STEP);
          break;
        case "0":
          reset();
          break;
        case "ArrowLeft":
          pan(PAN_STEP, 0);
          break;
        case "ArrowRight":
          pan(-PAN_STEP, 0);
          break;
        case "ArrowUp":
          pan(0, PAN_STEP);
          break;
        case "ArrowDown":
          pan(0, -PAN_STEP);
          break;
        default:
          handled = false;
      }
      if (handled) {
        event.preventDefault();
      }
    });

    // Trackpad pinches arrive as wheel events with ctrlKey set. A plain wheel
    // scrolls the page as usual.
    frame.addEventListener(
      "wheel",
      function (event) {
        if (!event.ctrlKey) {
          return;
        }
        event.preventDefault();
        // The zoomed box starts at the unzoomed one moved by (x, y).
        var box = image.getBoundingClientRect();
        var px = event.clientX - box.left + state.x;
        var py = event.clientY - box.top + state.y;
        zoom(event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP, px, py);
      },
      { passive: false }
    );

    frame.addEventListener("pointerdown", function (event) {
      if (state.scale <= MIN_SCALE || event.button !== 0) {
        return;
      }
      drag = {
        pointer: event.pointerId,
        x: event.clientX - state.x,
        y: event.clientY - state.y,
      };
      frame.setPointerCapture(event.pointerId);
      event.preventDefault();
    });
    frame.addEventListener("pointermove", function (event) {
      if (!drag || drag.pointer !== event.pointerId) {
        return;
      }
      state.x = event.clientX - drag.x;
      state.y = event.clientY - drag.y;
      render();
    });
    function endDrag(event) {
      if (drag && drag.pointer === event.pointerId) {
        drag = null;
      }
    }
    frame.addEventListener("pointerup", endDrag);
    frame.addEventListener("pointercancel", endDrag);
    image.addEventListener("dragstart", function (event) {
      event.preventDefault();
    });
    window.addEventListener("resize", render);

    render();
  }

  document.querySelectorAll("[data-viewer]").forEach(setUpViewer);
})();
