"use strict";

// Asks the Rust side who it is and shows it. window.__TAURI__ exists because
// tauri.conf.json sets app.withGlobalTauri.
async function showAppInfo() {
  const versionEl = document.getElementById("app-version");
  const prefixEl = document.getElementById("key-prefix");
  try {
    const info = await window.__TAURI__.core.invoke("app_info");
    versionEl.textContent = `${info.name} ${info.version}`;
    prefixEl.textContent = `${info.key_prefix_example}…`;
  } catch (err) {
    versionEl.textContent = "Could not reach the app.";
    versionEl.classList.add("error");
    console.error("app_info failed", err);
  }
}

window.addEventListener("DOMContentLoaded", showAppInfo);
