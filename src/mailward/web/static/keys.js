// Keyboard shortcuts (no other script runs on these pages):
// c write, r reply, a reply all, f forward, # delete, u back to the list, / search.
document.addEventListener("keydown", function (e) {
  var t = e.target;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
  var ids = { c: "compose", r: "reply", a: "reply-all", f: "forward", "#": "delete", u: "back" };
  if (e.key === "/") {
    var box = document.getElementById("search-box") || document.getElementById("search-from");
    if (box) { e.preventDefault(); box.focus(); }
    return;
  }
  var el = ids[e.key] && document.getElementById(ids[e.key]);
  if (el) { e.preventDefault(); el.click(); }
});
