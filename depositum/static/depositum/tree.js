// Hierarchy: loads the children of a description when a reader opens it.
//
// Without this script every closed description contains a link to its own page,
// and every "More" link leads to the full list of children, so the hierarchy
// works without JavaScript.
(function () {
  "use strict";

  var tree = document.querySelector("nav.tree");
  if (!tree || !window.fetch || !window.HTMLTemplateElement) {
    return;
  }

  // Fetch an HTML fragment of list items and return it as a DocumentFragment.
  function fetchItems(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("Loading " + url + " failed with HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var template = document.createElement("template");
        template.innerHTML = html;
        return template.content;
      });
  }

  // The toggle event does not bubble, so the listener captures it.
  tree.addEventListener(
    "toggle",
    function (event) {
      var details = event.target;
      if (!details.open || !details.dataset.childrenUrl || details.dataset.loaded) {
        return;
      }
      var list = details.querySelector(":scope > ul");
      details.dataset.loaded = "loading";
      list.setAttribute("aria-busy", "true");
      fetchItems(details.dataset.childrenUrl)
        .then(function (items) {
          list.replaceChildren(items);
          details.dataset.loaded = "done";
        })
        .catch(function (error) {
          // The fallback link stays, and the next opening tries again.
          delete details.dataset.loaded;
          console.error(error);
        })
        .finally(function () {
          list.removeAttribute("aria-busy");
        });
    },
    true
  );

  tree.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-tree-more]");
    if (!link) {
      return;
    }
    event.preventDefault();
    var item = link.closest("li");
    fetchItems(link.dataset.treeMore)
      .then(function (items) {
        var first = items.firstElementChild;
        item.replaceWith(items);
        // Keyboard users go on from the first new description.
        var target = first && first.querySelector("summary, a");
        if (target) {
          target.focus();
        }
      })
      .catch(function (error) {
        console.error(error);
        window.location.href = link.href;
      });
  });
})();
