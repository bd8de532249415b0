// Short result messages, announced politely to screen readers.
export type ToastKind = "success" | "error" | "info";
export type Toast = { id: number; kind: ToastKind; text: string };

class Toasts {
  items = $state<Toast[]>([]);
  #next = 1;

  push(kind: ToastKind, text: string, ms = kind === "error" ? 7000 : 4000): number {
    const id = this.#next++;
    this.items = [...this.items.slice(-3), { id, kind, text }];
    setTimeout(() => this.dismiss(id), ms);
    return id;
  }

  success(text: string) {
    return this.push("success", text);
  }

  error(text: string) {
    return this.push("error", text);
  }

  info(text: string) {
    return this.push("info", text);
  }

  dismiss(id: number) {
    this.items = this.items.filter((t) => t.id !== id);
  }
}

export const toasts = new Toasts();
