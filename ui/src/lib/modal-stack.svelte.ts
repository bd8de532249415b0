// Which dialogs are open, innermost last. Everything under the top one is inert.
export const modals = $state({ stack: [] as number[] });

let next = 1;

export function pushModal(): number {
  const id = next++;
  modals.stack.push(id);
  return id;
}

export function popModal(id: number) {
  const i = modals.stack.indexOf(id);
  if (i !== -1) modals.stack.splice(i, 1);
}
