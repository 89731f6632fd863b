// The Skype spec's JavaScript (browser) client (spec/skype-parser-api.md, "Using
// JavaScript (Browser)"), copied as written; only the base URL comes from SKYPE_BASE_URL
// (host and port aside). Node 20 has the browser's fetch, FormData and File. The driver
// at the end runs the functions as a page would and prints what they returned as JSON.
import { readFileSync } from 'node:fs';

const BASE_URL = process.env.SKYPE_BASE_URL;

// 1) Register a new user
async function registerUser(username, password, email, displayName) {
  const response = await fetch(`${BASE_URL}/api/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password, email, display_name: displayName })
  });
  return await response.json();
}

// 2) Log in
async function login(username, password) {
  const response = await fetch(`${BASE_URL}/api/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
    credentials: 'include'
  });
  return await response.json();
}

// 3) Upload a file (API key)
async function uploadFile(file, userDisplayName, apiKey) {
  const formData = new FormData();
  formData.append('file', file);
  if (userDisplayName) {
    formData.append('user_display_name', userDisplayName);
  }

  const response = await fetch(`${BASE_URL}/api/upload`, {
    method: 'POST',
    headers: { 'X-API-Key': apiKey },
    body: formData
  });
  return await response.json();
}

// 4) Check task status
async function checkTaskStatus(taskId, apiKey) {
  const response = await fetch(`${BASE_URL}/api/status/${taskId}`, {
    method: 'GET',
    headers: { 'X-API-Key': apiKey }
  });
  return await response.json();
}

// 5) Get analysis data
async function getAnalysis(exportId, apiKey) {
  const response = await fetch(`${BASE_URL}/api/analysis/${exportId}`, {
    method: 'GET',
    headers: { 'X-API-Key': apiKey }
  });
  return await response.json();
}

// 6) Get HTML report
async function getReport(exportId, apiKey) {
  const response = await fetch(`${BASE_URL}/api/report/${exportId}`, {
    method: 'GET',
    headers: { 'X-API-Key': apiKey }
  });
  return await response.text();
}

// 7) List all exports
async function listExports(apiKey) {
  const response = await fetch(`${BASE_URL}/api/exports`, {
    method: 'GET',
    headers: { 'X-API-Key': apiKey }
  });
  return await response.json();
}

// 8) Get user profile
async function getProfile(apiKey) {
  const response = await fetch(`${BASE_URL}/api/profile`, {
    method: 'GET',
    headers: { 'X-API-Key': apiKey },
    credentials: 'include'
  });
  return await response.json();
}

// 9) Regenerate API key
async function regenerateApiKey(apiKey) {
  const response = await fetch(`${BASE_URL}/api/regenerate-api-key`, {
    method: 'POST',
    headers: { 'X-API-Key': apiKey }
  });
  return await response.json();
}

// 10) Log out
async function logout() {
  const response = await fetch(`${BASE_URL}/api/logout`, {
    method: 'POST',
    credentials: 'include'
  });
  return await response.json();
}

// --- driver (not from the spec) ---
async function main() {
  const [username, exportPath] = process.argv.slice(2);
  const out = {};
  out.registered = await registerUser(username, 'securepassword', `${username}@example.com`, 'John Doe');
  const apiKey = out.registered.api_key;
  out.login = await login(username, 'securepassword');
  const file = new File([readFileSync(exportPath)], 'skype_export.tar', { type: 'application/x-tar' });
  out.upload = await uploadFile(file, 'John Doe', apiKey);
  let exportId = out.upload.export_id;
  if (out.upload.task_id) {
    for (;;) {
      out.status = await checkTaskStatus(out.upload.task_id, apiKey);
      if (out.status.status === 'completed' || out.status.status === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    exportId = out.status.export_id;
  }
  out.analysis = await getAnalysis(exportId, apiKey);
  out.report = await getReport(exportId, apiKey);
  out.exports = await listExports(apiKey);
  out.profile = await getProfile(apiKey);
  out.regenerated = await regenerateApiKey(apiKey);
  console.log(JSON.stringify(out));
}

main().catch((error) => { console.error(error); process.exit(1); });
