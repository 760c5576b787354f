/*
 * Helpers shared by the prediction page and the dashboard (loaded before app.js and
 * admin.js). Plain browser JavaScript, no build step.
 */
'use strict';

window.groveUi = (() => {
  /* el('p', {class: 'x', text: 'hi'}, child...): a DOM element; false/null attributes are skipped. */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  return { el };
})();
