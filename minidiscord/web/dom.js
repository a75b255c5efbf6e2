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
