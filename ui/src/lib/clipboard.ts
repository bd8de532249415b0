// Copying text that is NOT a secret (curl lines, ids). Secrets go through the
// `copy_secret` command so Rust can clear the clipboard after 60 s.
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through: the caller selects the text instead
  }
  return false;
}

/** Selects an element's text so the person can press Ctrl+C. */
export function selectText(el: HTMLElement) {
  const range = document.createRange();
  range.selectNodeContents(el);
  const sel = window.getSelection();
  sel?.removeAllRanges();
  sel?.addRange(range);
}
