import { startupMark } from "./lib/startup";
startupMark("script");
import { mount } from "svelte";
import "./app.css";
import App from "./App.svelte";
import { app as state } from "./lib/app.svelte";

if (/Linux/.test(navigator.userAgent) && !/Android/.test(navigator.userAgent)) {
  document.documentElement.dataset.os = "linux";
}

const target = document.getElementById("app");
if (!target) throw new Error("#app is missing from index.html");

// The first IPC calls travel while the app mounts.
state.begin();
const app = mount(App, { target });
startupMark("mounted");
export default app;
