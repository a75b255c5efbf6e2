// The one way the page builds elements: text always goes in as text nodes, attribute
// values through setAttribute, never through HTML parsing.

/** Create an element: h("p", {class: "x", "aria-label": "y"}, "text", childNode, ...). */
export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/**
 * Make `list`'s items the `items` built afresh (each an element holding one
 * `[data-channel]` button), keeping the elements already shown for a channel and changing
 * only what differs in them. A list rebuilt under a press loses the click: pressed on the
 * old button, released on the new one (and a test's click retried on a button that the
 * first click has meanwhile hidden, by choosing the channel, fails).
 */
export function updateChannelItems(list, items) {
  const shown = new Map();
  for (const item of list.children) {
    const channel = item.querySelector("[data-channel]")?.dataset.channel;
    if (channel !== undefined) shown.set(channel, item);
  }
  const kept = items.map((item) => {
    const channel = item.querySelector("[data-channel]")?.dataset.channel;
    const old = channel === undefined ? undefined : shown.get(channel);
    if (old === undefined || old.nodeName !== item.nodeName) return item;
    shown.delete(channel);
    morph(old, item);
    return old;
  });
  // Moved only where the order changed.
  kept.forEach((item, index) => {
    if (list.children[index] !== item) list.insertBefore(item, list.children[index] ?? null);
  });
  while (list.children.length > kept.length) list.lastElementChild.remove();
}

/** Give `old` the attributes and content of `fresh` (the same kind of node), keeping each of
 * its descendants that `fresh` has at the same place. */
function morph(old, fresh) {
  for (const { name } of [...old.attributes]) if (!fresh.hasAttribute(name)) old.removeAttribute(name);
  for (const { name, value } of [...fresh.attributes]) if (old.getAttribute(name) !== value) old.setAttribute(name, value);
  const before = [...old.childNodes];
  const after = [...fresh.childNodes];
  after.forEach((node, index) => {
    const same = before[index];
    if (same === undefined) old.append(node);
    else if (same.nodeName !== node.nodeName) old.replaceChild(node, same);
    else if (node.nodeType === Node.ELEMENT_NODE) morph(same, node);
    else if (same.nodeValue !== node.nodeValue) same.nodeValue = node.nodeValue;
  });
  for (const extra of before.slice(after.length)) extra.remove();
}
