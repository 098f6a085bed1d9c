// Corral dashboard: a single page over the master's operator API.
//
// Live data: the operator SUBSCRIBE stream (RecordIO over a streaming fetch)
// keeps tasks, agents and frameworks current; every few seconds GET_AGENTS,
// GET_FRAMEWORKS, /roles and /metrics/snapshot refresh usage, offers and
// shares.  /webui/leader says who leads; when this master stops leading or
// goes away, the page moves to the leader.  No framework, no build step, no
// CDN: the file is served as is by the master.
'use strict';

(function () {
  const POLL_MS = 3000;
  const RENDER_MS = 250;
  const PAGE_SIZE = 100;
  const LOG_KEEP = 512 * 1024;
  const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST',
    'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN']);

  const model = {
    tasks: new Map(),          // "fid\u0000tid" -> v1 Task
    agents: new Map(),         // agent id -> v1 agent entry
    frameworks: new Map(),     // framework id -> v1 framework entry
    completedFrameworks: new Map(),
    roles: [], metrics: {}, leader: null, leaderId: null, leading: null, cluster: '',
    streaming: false, loaded: false, lastEvent: 0, heartbeat: 15,
  };
  const known = new Set();     // master addresses seen (for failover)
  const ui = { route: null, args: [], page: null, renderTimer: null, tasksFilter: '', tasksState: 'active', tasksPage: 0 };

  // ---------------------------------------------------------------- helpers

  const $ = (sel, root) => (root || document).querySelector(sel);
  function esc(value) {
    return String(value === undefined || value === null ? '' : value)
      .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  }
  const idv = (x) => (x && typeof x === 'object' ? x.value : x) || '';
  const taskKey = (fid, tid) => fid + '\u0000' + tid;

  function scalars(resources) {
    const out = {};
    for (const r of resources || []) {
      if (r && r.scalar && typeof r.scalar.value === 'number') out[r.name] = (out[r.name] || 0) + r.scalar.value;
      else if (r && r.ranges) {
        let n = 0;
        for (const rg of r.ranges.range || []) n += (rg.end - rg.begin + 1);
        out[r.name] = (out[r.name] || 0) + n;
      }
    }
    return out;
  }
  function resourceRole(r) {
    if (r.reservations && r.reservations.length) return r.reservations[r.reservations.length - 1].role || '*';
    return r.role || '*';
  }
  function fmt(kind, v) {
    v = v || 0;
    if (kind === 'mem' || kind === 'disk') {
      if (v >= 1024 * 1024) return (v / 1024 / 1024).toFixed(1) + ' TB';
      if (v >= 1024) return (v / 1024).toFixed(1) + ' GB';
      return Math.round(v) + ' MB';
    }
    return (Math.round(v * 100) / 100).toString();
  }
  function pct(a, b) { return b > 0 ? Math.min(100, (100 * a) / b) : 0; }
  function ago(seconds) {
    if (!seconds) return '';
    const d = Date.now() / 1000 - seconds;
    if (d < 0) return 'just now';
    if (d < 60) return Math.round(d) + 's ago';
    if (d < 3600) return Math.round(d / 60) + 'm ago';
    if (d < 86400) return Math.round(d / 3600) + 'h ago';
    return Math.round(d / 86400) + 'd ago';
  }
  const nanos = (t) => (t && t.nanoseconds ? t.nanoseconds / 1e9 : 0);
  function stateClass(s) {
    if (s === 'TASK_RUNNING') return 's-run';
    if (s === 'TASK_STAGING' || s === 'TASK_STARTING') return 's-stage';
    if (s === 'TASK_FINISHED') return 's-done';
    if (s === 'TASK_KILLED' || s === 'TASK_KILLING') return 's-kill';
    return 's-fail';
  }
  const stateBadge = (s) => `<span class="state ${stateClass(s)}" data-state="${esc(s)}">${esc((s || '').replace('TASK_', ''))}</span>`;
  function lastUpdate(task) {
    const st = task.statuses || [];
    return st.length ? st[st.length - 1].timestamp || 0 : 0;
  }
  function addressOf(info) {
    const a = info && info.address;
    return a ? `${a.ip || a.hostname}:${a.port}` : '';
  }

  // ---------------------------------------------------------------- HTTP

  async function call(type, body) {
    const response = await fetch('/api/v1', {
      method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(Object.assign({ type }, body || {})), cache: 'no-store',
    });
    if (!response.ok) throw new HttpError(response.status, await response.text());
    const text = await response.text();
    return text ? JSON.parse(text)[type.toLowerCase()] : null;
  }
  async function getJSON(path) {
    const response = await fetch(path, { cache: 'no-store' });
    if (!response.ok) throw new HttpError(response.status, await response.text());
    return response.json();
  }
  class HttpError extends Error {
    constructor(status, text) { super(`HTTP ${status}: ${text.slice(0, 300)}`); this.status = status; }
  }

  // RecordIO records (`<length>\n<json>`) from a streaming response body.
  async function* records(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let chunks = [], size = 0, buf = new Uint8Array(0);
    const take = () => {
      if (chunks.length) {
        const merged = new Uint8Array(buf.length + size);
        merged.set(buf, 0);
        let at = buf.length;
        for (const c of chunks) { merged.set(c, at); at += c.length; }
        buf = merged; chunks = []; size = 0;
      }
    };
    let need = 0;
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      chunks.push(value); size += value.length;
      if (buf.length + size < need) continue;
      take();
      while (true) {
        const nl = buf.indexOf(10);
        if (nl < 0) { need = buf.length + 1; break; }
        const length = parseInt(decoder.decode(buf.subarray(0, nl)), 10);
        if (buf.length < nl + 1 + length) { need = nl + 1 + length; break; }
        const record = decoder.decode(buf.subarray(nl + 1, nl + 1 + length));
        buf = buf.subarray(nl + 1 + length);
        need = 0;
        yield JSON.parse(record);
      }
    }
  }

  // ---------------------------------------------------------------- the model

  function loadState(state) {
    model.tasks.clear();
    const t = state.get_tasks || {};
    for (const list of [t.completed_tasks, t.unreachable_tasks, t.pending_tasks, t.tasks]) {
      for (const task of list || []) model.tasks.set(taskKey(idv(task.framework_id), idv(task.task_id)), task);
    }
    model.agents.clear();
    for (const a of (state.get_agents || {}).agents || []) model.agents.set(idv(a.agent_info.id), a);
    loadFrameworks(state.get_frameworks || {});
    model.loaded = true;
  }
  function loadFrameworks(doc) {
    model.frameworks.clear();
    for (const f of doc.frameworks || []) model.frameworks.set(idv(f.framework_info.id), f);
    for (const f of doc.completed_frameworks || []) model.completedFrameworks.set(idv(f.framework_info.id), f);
  }
  function loadAgents(doc) {
    const seen = new Set();
    for (const a of doc.agents || []) { const id = idv(a.agent_info.id); seen.add(id); model.agents.set(id, a); }
    for (const id of [...model.agents.keys()]) if (!seen.has(id)) model.agents.delete(id);
  }

  function apply(event) {
    model.lastEvent = Date.now();
    switch (event.type) {
      case 'SUBSCRIBED':
        model.heartbeat = event.subscribed.heartbeat_interval_seconds || 15;
        loadState(event.subscribed.get_state || {});
        break;
      case 'TASK_ADDED': {
        const task = event.task_added.task;
        model.tasks.set(taskKey(idv(task.framework_id), idv(task.task_id)), task);
        break;
      }
      case 'TASK_UPDATED': {
        const u = event.task_updated;
        const status = u.status || {};
        const key = taskKey(idv(u.framework_id), idv(status.task_id));
        const task = model.tasks.get(key);
        if (task) {
          task.state = u.state || status.state;
          task.statuses = (task.statuses || []).concat([{ state: status.state, timestamp: status.timestamp }]).slice(-20);
          task.status_message = status.message || task.status_message;
          task.status_reason = status.reason || task.status_reason;
        }
        break;
      }
      case 'AGENT_ADDED': {
        const agent = event.agent_added.agent;
        model.agents.set(idv(agent.agent_info.id), Object.assign({}, model.agents.get(idv(agent.agent_info.id)) || {}, agent));
        break;
      }
      case 'AGENT_REMOVED':
        model.agents.delete(idv(event.agent_removed.agent_id));
        break;
      case 'FRAMEWORK_ADDED':
      case 'FRAMEWORK_UPDATED': {
        const fw = event[event.type.toLowerCase()].framework;
        const id = idv(fw.framework_info.id);
        model.frameworks.set(id, Object.assign({}, model.frameworks.get(id) || {}, fw));
        model.completedFrameworks.delete(id);
        break;
      }
      case 'FRAMEWORK_REMOVED': {
        const info = event.framework_removed.framework_info;
        const id = idv(info.id);
        const fw = model.frameworks.get(id) || { framework_info: info };
        fw.active = false; fw.connected = false;
        model.frameworks.delete(id);
        model.completedFrameworks.set(id, fw);
        break;
      }
      default:
        break; // HEARTBEAT
    }
    scheduleRender();
  }

  // ---------------------------------------------------------------- the stream, polling, the leader

  let streamAbort = null;
  async function subscribe() {
    while (true) {
      const controller = new AbortController();
      streamAbort = controller;
      let watchdog = null;
      try {
        const response = await fetch('/api/v1', {
          method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ type: 'SUBSCRIBE' }), signal: controller.signal, cache: 'no-store',
        });
        if (!response.ok) throw new HttpError(response.status, await response.text());
        model.lastEvent = Date.now();
        watchdog = setInterval(() => {
          if (Date.now() - model.lastEvent > 2.5 * model.heartbeat * 1000) controller.abort();
        }, 1000);
        for await (const event of records(response.body)) {
          if (!model.streaming) { model.streaming = true; setConnection('live'); }
          apply(event);
        }
      } catch (err) {
        if (err && err.status === 401) { setBanner('The master asks for credentials: reload the page to sign in.'); }
        else if (err && err.status === 403) { setBanner('Your principal may not subscribe to events here: ' + esc(err.message)); }
      } finally {
        if (watchdog) clearInterval(watchdog);
      }
      model.streaming = false;
      setConnection('wait');
      await followLeader();
      await sleep(1000);
    }
  }

  async function poll() {
    const jobs = [
      call('GET_AGENTS').then(loadAgents),
      call('GET_FRAMEWORKS').then((doc) => { loadFrameworks(doc); }),
      getJSON('/roles').then((doc) => { model.roles = doc.roles || []; }),
      call('GET_MAINTENANCE_STATUS').then((doc) => { model.maintenance = doc.status || {}; }),
      getJSON('/metrics/snapshot').then((doc) => { model.metrics = doc; }),
    ];
    const results = await Promise.allSettled(jobs);
    if (results.some((r) => r.status === 'rejected' && !(r.reason instanceof HttpError))) await followLeader();
    scheduleRender();
  }

  async function leaderOf(address) {
    const base = address === location.host ? '' : `${location.protocol}//${address}`;
    const response = await fetch(`${base}/webui/leader`, { cache: 'no-store', mode: 'cors' });
    if (!response.ok) throw new HttpError(response.status, '');
    const info = await response.json();
    for (const m of info.masters || []) known.add(m);
    return info;
  }

  // Stay if this master leads; otherwise move to the master that does.
  async function followLeader() {
    let here = null;
    try { here = await leaderOf(location.host); } catch (e) { here = null; }
    if (here) {
      model.cluster = here.cluster || model.cluster;
      model.leaderId = here.leader ? here.leader.id : null;
      model.leader = here.leader;
      model.leading = here.leading;
      if (here.leading) { clearBanner(); return; }
      const target = addressOf(here.leader);
      if (target && target !== location.host) return moveTo(target, here.scheme);
      setBanner('No master leads right now; waiting for an election…');
      setConnection('wait');
      return;
    }
    setConnection('down');
    setBanner(`Lost the master at ${esc(location.host)}; looking for the leader…`);
    for (const address of known) {
      if (address === location.host) continue;
      try {
        const info = await leaderOf(address);
        if (info.leading) return moveTo(address, info.scheme);
        const target = addressOf(info.leader);
        if (target && target !== location.host) return moveTo(target, info.scheme);
      } catch (e) { /* try the next one */ }
    }
  }

  function moveTo(address, scheme) {
    known.add(location.host);
    const proto = scheme ? scheme + ':' : location.protocol;
    setBanner(`Following the new leading master at ${esc(address)}…`);
    const masters = encodeURIComponent([...known].join(','));
    location.replace(`${proto}//${address}/?masters=${masters}${location.hash}`);
    return new Promise(() => {}); // the page is going away
  }

  // ---------------------------------------------------------------- chrome

  function setConnection(kind) {
    const el = $('#conn');
    el.className = 'conn conn-' + kind;
    el.textContent = kind === 'live' ? 'live' : kind === 'wait' ? 'reconnecting…' : 'master unreachable';
  }
  function setBanner(html) { const el = $('#banner'); el.innerHTML = html; el.hidden = false; }
  function clearBanner() { $('#banner').hidden = true; }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function renderChrome() {
    $('#cluster').textContent = model.cluster ? `cluster ${model.cluster}` : '';
    const l = model.leader;
    $('#leader').textContent = l ? `leader ${l.hostname}:${l.address ? l.address.port : l.port}` : '';
    for (const a of document.querySelectorAll('#nav a')) {
      const base = (ui.route || 'overview').replace(/^(agent|framework|task)$/, '$1s');
      a.classList.toggle('active', a.dataset.nav === base);
    }
  }

  // ---------------------------------------------------------------- derived numbers

  function clusterResources() {
    const total = {}, allocated = {}, offered = {};
    for (const a of model.agents.values()) {
      for (const [k, v] of Object.entries(scalars(a.total_resources))) total[k] = (total[k] || 0) + v;
      for (const [k, v] of Object.entries(scalars(a.allocated_resources))) allocated[k] = (allocated[k] || 0) + v;
      for (const [k, v] of Object.entries(scalars(a.offered_resources))) offered[k] = (offered[k] || 0) + v;
    }
    return { total, allocated, offered };
  }
  function taskCounts() {
    const counts = {};
    for (const t of model.tasks.values()) counts[t.state] = (counts[t.state] || 0) + 1;
    return counts;
  }
  function activeTasks(filter) {
    const out = [];
    for (const t of model.tasks.values()) if (!TERMINAL.has(t.state) && (!filter || filter(t))) out.push(t);
    return out;
  }
  function frameworkName(fid) {
    const f = model.frameworks.get(fid) || model.completedFrameworks.get(fid);
    return f ? f.framework_info.name : fid;
  }
  function agentHost(aid) {
    const a = model.agents.get(aid);
    return a ? `${a.agent_info.hostname}:${a.agent_info.port}` : aid;
  }

  function usageBar(kind, total, allocated, offered) {
    const a = pct(allocated, total), o = pct(offered, total);
    return `<div class="bar" title="${esc(kind)}: ${fmt(kind, allocated)} allocated, ${fmt(kind, offered)} offered, ${fmt(kind, total)} total">
      <span class="a" style="width:${a}%"></span><span class="o" style="width:${o}%"></span></div>`;
  }

  // ---------------------------------------------------------------- pages

  const pages = {};

  pages.overview = {
    render() {
      const { total, allocated, offered } = clusterResources();
      const kinds = ['cpus', 'mem', 'disk'].concat(total.gpus ? ['gpus'] : []);
      const cards = kinds.map((k) => `
        <div class="card" data-testid="resource-${k}">
          <div class="label">${k}</div>
          <div class="value"><span data-testid="allocated-${k}">${fmt(k, allocated[k])}</span> <span class="muted" style="font-size:14px">of <span data-testid="total-${k}">${fmt(k, total[k])}</span></span></div>
          ${usageBar(k, total[k], allocated[k] || 0, offered[k] || 0)}
          <div class="sub">${pct(allocated[k] || 0, total[k]).toFixed(0)}% allocated · ${fmt(k, offered[k])} offered · ${fmt(k, Math.max(0, (total[k] || 0) - (allocated[k] || 0) - (offered[k] || 0)))} idle</div>
        </div>`).join('');
      const counts = taskCounts();
      const agents = [...model.agents.values()];
      const activeAgents = agents.filter((a) => a.active).length;
      const fws = [...model.frameworks.values()];
      const m = model.metrics;
      const live = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING'].reduce((s, k) => s + (counts[k] || 0), 0);
      const stats = `
        <div class="card"><div class="label">Agents</div><div class="value" data-testid="agents-count">${agents.length}</div>
          <div class="sub">${activeAgents} active · ${agents.length - activeAgents} inactive · ${m['master/slaves_unreachable'] || 0} unreachable</div></div>
        <div class="card"><div class="label">Frameworks</div><div class="value" data-testid="frameworks-count">${fws.length}</div>
          <div class="sub">${fws.filter((f) => f.active).length} active · ${model.completedFrameworks.size} completed</div></div>
        <div class="card"><div class="label">Tasks</div><div class="value" data-testid="tasks-live">${live}</div>
          <div class="sub">${counts.TASK_RUNNING || 0} running · ${(counts.TASK_STAGING || 0) + (counts.TASK_STARTING || 0)} starting ·
            ${counts.TASK_FINISHED || 0} finished · ${(counts.TASK_FAILED || 0) + (counts.TASK_ERROR || 0) + (counts.TASK_LOST || 0)} failed/lost · ${counts.TASK_KILLED || 0} killed</div></div>
        <div class="card"><div class="label">Outstanding offers</div><div class="value" data-testid="offers-count">${m['master/outstanding_offers'] !== undefined ? m['master/outstanding_offers'] : '–'}</div>
          <div class="sub">${m['master/offers_sent'] || 0} sent · ${m['master/offers_declined'] || 0} declined · ${m['master/offers_rescinded'] || 0} rescinded</div></div>`;
      const l = model.leader;
      const leader = l ? `<dl class="kv" data-testid="leading-master">
          <dt>Leading master</dt><dd class="mono">${esc(l.hostname)}:${esc(l.address ? l.address.port : l.port)}</dd>
          <dt>Master id</dt><dd class="mono">${esc(l.id)}</dd>
          <dt>Version</dt><dd>Mesos API ${esc(l.version)}</dd>
          <dt>Uptime</dt><dd>${m['master/uptime_secs'] ? Math.round(m['master/uptime_secs']) + ' s' : '–'}</dd>
          <dt>Last allocation run</dt><dd>${m['allocator/mesos/allocation_run_ms'] !== undefined ? Number(m['allocator/mesos/allocation_run_ms']).toFixed(2) + ' ms' : '–'}</dd>
        </dl>` : '';
      const recent = [...model.tasks.values()].sort((a, b) => lastUpdate(b) - lastUpdate(a)).slice(0, 10);
      return `<h1>Cluster overview</h1>
        <div class="grid">${cards}</div>
        <div class="legend"><span><i style="background:var(--alloc)"></i>allocated</span><span><i style="background:var(--offer)"></i>offered</span><span><i style="background:var(--idle)"></i>idle</span></div>
        <h2>Activity</h2><div class="grid">${stats}</div>
        <div class="two" style="margin-top:16px">
          <div><h2>Leading master</h2>${leader}</div>
          <div><h2>Roles</h2>${rolesTable(model.roles, true)}</div>
        </div>
        <h2>Recent tasks</h2>${tasksTable(recent, false)}`;
    },
  };

  function rolesTable(roles, compact) {
    if (!roles.length) return '<div class="empty">No roles in use yet</div>';
    const rows = roles.map((r) => {
      const res = r.resources || {};
      return `<tr data-role="${esc(r.name)}"><td>${esc(r.name)}</td><td class="num" data-testid="role-weight">${esc(r.weight)}</td>
        <td class="num" data-testid="role-share">${(100 * (r.share || 0)).toFixed(1)}%</td>
        <td class="num">${(r.frameworks || []).length}</td>
        <td class="num">${fmt('cpus', res.cpus)}</td><td class="num">${fmt('mem', res.mem)}</td>
        ${compact ? '' : `<td class="num">${fmt('disk', res.disk)}</td><td data-testid="role-reserved">${quantitiesText(r.reserved)}</td>
          <td data-testid="role-quota">${quotaText(r.quota)}</td>`}</tr>`;
    }).join('');
    return `<table data-testid="roles-table"><thead><tr><th>Role</th><th class="num">Weight</th><th class="num">Dominant share</th>
      <th class="num">Frameworks</th><th class="num">CPUs</th><th class="num">Mem</th>${compact ? '' : '<th class="num">Disk</th><th>Reserved</th><th>Quota</th>'}</tr></thead>
      <tbody>${rows}</tbody></table>`;
  }

  function quantitiesText(m) {
    return Object.keys(m || {}).length ? Object.entries(m).map(([k, v]) => `${esc(k)}: ${fmt(k, v)}`).join(', ') : '<span class="muted">none</span>';
  }
  function quotaText(quota) {
    if (!quota) return '<span class="muted">none</span>';
    const part = (label, m) => (Object.keys(m || {}).length ? `${label} ${quantitiesText(m)}` : '');
    return [part('guarantee', quota.guarantee), part('limit', quota.limit), part('consumed', quota.consumed)].filter(Boolean).join(' · ');
  }

  function tasksTable(tasks, withPaging) {
    if (!tasks.length) return '<div class="empty">No tasks</div>';
    const rows = tasks.map((t) => {
      const fid = idv(t.framework_id), tid = idv(t.task_id), res = scalars(t.resources);
      return `<tr data-task-id="${esc(tid)}" data-task-state="${esc(t.state)}">
        <td><a href="#/tasks/${encodeURIComponent(fid)}/${encodeURIComponent(tid)}" class="mono">${esc(tid)}</a></td>
        <td>${esc(t.name)}</td><td>${stateBadge(t.state)}</td>
        <td><a href="#/frameworks/${encodeURIComponent(fid)}">${esc(frameworkName(fid))}</a></td>
        <td><a href="#/agents/${encodeURIComponent(idv(t.agent_id))}">${esc(agentHost(idv(t.agent_id)))}</a></td>
        <td class="num">${fmt('cpus', res.cpus)}</td><td class="num">${fmt('mem', res.mem)}</td>
        <td class="muted">${esc(ago(lastUpdate(t)))}</td>
        <td><a href="#/tasks/${encodeURIComponent(fid)}/${encodeURIComponent(tid)}">sandbox</a></td></tr>`;
    }).join('');
    return `<table data-testid="tasks-table"><thead><tr><th>Task</th><th>Name</th><th>State</th><th>Framework</th><th>Agent</th>
      <th class="num">CPUs</th><th class="num">Mem</th><th>Updated</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  pages.agents = {
    render() {
      const agents = [...model.agents.values()].sort((a, b) => a.agent_info.hostname.localeCompare(b.agent_info.hostname) || a.agent_info.port - b.agent_info.port);
      if (!agents.length) return '<h1>Agents</h1><div class="empty">No agents registered</div>';
      const running = {};
      for (const t of model.tasks.values()) if (!TERMINAL.has(t.state)) running[idv(t.agent_id)] = (running[idv(t.agent_id)] || 0) + 1;
      const rows = agents.slice(0, 1000).map((a) => {
        const id = idv(a.agent_info.id), tot = scalars(a.total_resources), al = scalars(a.allocated_resources);
        const attrs = (a.agent_info.attributes || []).map((x) => `<span class="pill">${esc(x.name)}:${esc(attrValue(x))}</span>`).join('');
        return `<tr data-agent-id="${esc(id)}"><td><a class="mono" href="#/agents/${encodeURIComponent(id)}">${esc(id)}</a></td>
          <td>${esc(a.agent_info.hostname)}:${esc(a.agent_info.port)}</td><td data-testid="agent-active">${a.active ? 'yes' : `<span class="state s-fail">${esc(agentMode(a))}</span>`}</td>
          <td class="num">${fmt('cpus', al.cpus)} / ${fmt('cpus', tot.cpus)}</td><td class="num">${fmt('mem', al.mem)} / ${fmt('mem', tot.mem)}</td>
          <td class="num">${fmt('disk', al.disk)} / ${fmt('disk', tot.disk)}</td><td class="num">${running[id] || 0}</td><td>${attrs}</td></tr>`;
      }).join('');
      return `<h1>Agents <span class="muted">(${agents.length})</span></h1>
        <table data-testid="agents-table"><thead><tr><th>ID</th><th>Host</th><th>Active</th><th class="num">CPUs</th><th class="num">Mem</th>
        <th class="num">Disk</th><th class="num">Tasks</th><th>Attributes</th></tr></thead><tbody>${rows}</tbody></table>
        ${agents.length > 1000 ? '<p class="muted">Showing the first 1000 agents.</p>' : ''}`;
    },
  };

  // The maintenance window of an agent's machine, from GET_MAINTENANCE_STATUS (a machine id
  // matches when each of its fields equals the agent's), or null.
  function maintenanceOf(a) {
    const info = a.agent_info;
    const matches = (m) => (!m.hostname || m.hostname === info.hostname) && (!m.ip || m.ip === info.ip);
    const draining = ((model.maintenance || {}).draining_machines || []).find((d) => matches(d.id));
    if (!draining) return null;
    const answers = (draining.statuses || []).map((s) => `${frameworkName(idv(s.framework_id))}: ${s.status.toLowerCase()}`);
    return `draining for maintenance${answers.length ? ` (inverse offers: ${answers.join(', ')})` : ''}`;
  }

  // Why an agent is offered to nobody: drained, draining, deactivated or disconnected.
  function agentMode(a) {
    if (a.drain_info) return a.drain_info.state.toLowerCase();
    return a.deactivated ? 'deactivated' : 'disconnected';
  }

  // An attribute's value as text, written as corral/attributes.py writes it (rack:r1, cores:8,
  // ids:[1-4, 8-9], zones:{a,b}) everywhere else: /state, /flags, the CLI.
  function attrValue(a) {
    if (a.scalar) return a.scalar.value;
    if (a.text) return a.text.value;
    if (a.set) return '{' + (a.set.item || []).join(',') + '}';
    if (a.ranges) return '[' + (a.ranges.range || []).map((r) => `${r.begin}-${r.end}`).join(', ') + ']';
    return '';
  }

  pages.agent = {
    render(id) {
      const a = model.agents.get(id);
      if (!a) return `<h1>Agent ${esc(id)}</h1><div class="empty">This agent is not registered (any more).</div>`;
      const info = a.agent_info;
      const tot = scalars(a.total_resources), al = scalars(a.allocated_resources), of = scalars(a.offered_resources);
      const kinds = [...new Set(Object.keys(tot).concat(Object.keys(al)))].sort();
      const resRows = kinds.map((k) => `<tr><td>${esc(k)}</td><td class="num">${fmt(k, tot[k])}</td><td class="num">${fmt(k, al[k])}</td>
        <td class="num">${fmt(k, of[k])}</td><td class="num">${fmt(k, Math.max(0, (tot[k] || 0) - (al[k] || 0) - (of[k] || 0)))}</td></tr>`).join('');
      const byRole = {};
      for (const r of a.total_resources || []) {
        const role = resourceRole(r);
        if (role === '*') continue;
        byRole[role] = byRole[role] || [];
        byRole[role].push(r);
      }
      const reservations = Object.keys(byRole).length ? `<table data-testid="reservations"><thead><tr><th>Role</th><th>Resources</th><th>Type</th></tr></thead><tbody>${
        Object.entries(byRole).map(([role, rs]) => `<tr><td>${esc(role)}</td><td>${Object.entries(scalars(rs)).map(([k, v]) => `${esc(k)}: ${fmt(k, v)}`).join(', ')}</td>
          <td>${esc([...new Set(rs.map((r) => (r.reservations && r.reservations.length ? r.reservations[r.reservations.length - 1].type : 'STATIC')))].join(', '))}</td></tr>`).join('')}</tbody></table>`
        : '<div class="empty">No reservations</div>';
      const attrs = (info.attributes || []).map((x) => `<dt>${esc(x.name)}</dt><dd>${esc(attrValue(x))}</dd>`).join('');
      const tasks = [...model.tasks.values()].filter((t) => idv(t.agent_id) === id).sort((x, y) => lastUpdate(y) - lastUpdate(x)).slice(0, 200);
      return `<h1>Agent <span class="mono">${esc(id)}</span></h1>
        <div class="two"><dl class="kv">
          <dt>Host</dt><dd>${esc(info.hostname)}:${esc(info.port)}</dd><dt>Active</dt><dd data-testid="agent-mode">${a.active ? 'yes' : `no (${esc(agentMode(a))})`}</dd>
          <dt>Version</dt><dd>${esc(a.version)}</dd><dt>Registered</dt><dd>${esc(ago(nanos(a.registered_time)))}</dd>
          <dt>PID</dt><dd class="mono">${esc(a.pid)}</dd>
          <dt>Maintenance</dt><dd data-testid="agent-maintenance">${esc(maintenanceOf(a) || 'none scheduled')}</dd></dl>
          <div><table data-testid="agent-resources"><thead><tr><th>Resource</th><th class="num">Total</th><th class="num">Allocated</th><th class="num">Offered</th><th class="num">Idle</th></tr></thead>
          <tbody>${resRows}</tbody></table></div></div>
        <h2>Attributes</h2>${attrs ? `<dl class="kv" data-testid="agent-attributes">${attrs}</dl>` : '<div class="empty">No attributes</div>'}
        <h2>Reservations</h2>${reservations}
        <h2>Tasks</h2>${tasksTable(tasks, false)}`;
    },
  };

  pages.frameworks = {
    render() {
      const fws = [...model.frameworks.values()];
      const running = {};
      for (const t of model.tasks.values()) if (!TERMINAL.has(t.state)) running[idv(t.framework_id)] = (running[idv(t.framework_id)] || 0) + 1;
      const row = (f) => {
        const info = f.framework_info, id = idv(info.id), al = scalars(f.allocated_resources);
        return `<tr data-framework-id="${esc(id)}"><td><a class="mono" href="#/frameworks/${encodeURIComponent(id)}">${esc(id)}</a></td>
          <td>${esc(info.name)}</td><td>${esc(info.user)}</td><td>${esc(info.principal || '')}</td>
          <td>${esc((info.roles || [info.role || '*']).join(', '))}</td><td>${f.active ? 'yes' : 'no'}${f.connected === false ? ' (disconnected)' : ''}</td>
          <td class="num">${running[id] || 0}</td><td class="num">${fmt('cpus', al.cpus)}</td><td class="num">${fmt('mem', al.mem)}</td>
          <td class="num">${(f.offers || []).length}</td></tr>`;
      };
      const head = `<thead><tr><th>ID</th><th>Name</th><th>User</th><th>Principal</th><th>Roles</th><th>Active</th><th class="num">Tasks</th>
        <th class="num">CPUs</th><th class="num">Mem</th><th class="num">Offers</th></tr></thead>`;
      const done = [...model.completedFrameworks.values()];
      return `<h1>Frameworks <span class="muted">(${fws.length})</span></h1>
        ${fws.length ? `<table data-testid="frameworks-table">${head}<tbody>${fws.map(row).join('')}</tbody></table>` : '<div class="empty">No frameworks</div>'}
        <h2>Completed frameworks</h2>
        ${done.length ? `<table data-testid="completed-frameworks-table">${head}<tbody>${done.map(row).join('')}</tbody></table>` : '<div class="empty">None</div>'}`;
    },
  };

  pages.framework = {
    below: true,
    mount(root, id) {
      const why = document.createElement('section');
      why.innerHTML = '<h2>Why no offers</h2><div id="why-offers" data-testid="why-offers"><div class="empty">Loading…</div></div>';
      root.appendChild(why);
      this.why = new WhyPoller(id);
    },
    unmount() { if (this.why) this.why.stop(); this.why = null; },
    render(id) {
      const f = model.frameworks.get(id) || model.completedFrameworks.get(id);
      if (!f) return `<h1>Framework ${esc(id)}</h1><div class="empty">Unknown framework.</div>`;
      const info = f.framework_info;
      const offers = (f.offers || []).map((o) => `<tr><td class="mono">${esc(idv(o.id))}</td><td>${esc(o.hostname)}</td>
        <td>${Object.entries(scalars(o.resources)).map(([k, v]) => `${esc(k)}: ${fmt(k, v)}`).join(', ')}</td></tr>`).join('');
      const tasks = [...model.tasks.values()].filter((t) => idv(t.framework_id) === id);
      const active = tasks.filter((t) => !TERMINAL.has(t.state));
      const done = tasks.filter((t) => TERMINAL.has(t.state)).sort((x, y) => lastUpdate(y) - lastUpdate(x)).slice(0, 200);
      return `<h1>Framework ${esc(info.name)} <span class="muted mono">${esc(id)}</span></h1>
        <dl class="kv"><dt>User</dt><dd>${esc(info.user)}</dd><dt>Principal</dt><dd>${esc(info.principal || '–')}</dd>
          <dt>Roles</dt><dd>${esc((info.roles || [info.role || '*']).join(', '))}</dd>
          <dt>Capabilities</dt><dd>${(info.capabilities || []).map((c) => `<span class="pill">${esc(c.type)}</span>`).join('')}</dd>
          <dt>Active</dt><dd>${f.active ? 'yes' : 'no'}</dd><dt>Registered</dt><dd>${esc(ago(nanos(f.registered_time)))}</dd>
          <dt>Failover timeout</dt><dd>${esc(info.failover_timeout || 0)} s</dd>${info.webui_url ? `<dt>Web UI</dt><dd><a href="${esc(info.webui_url)}">${esc(info.webui_url)}</a></dd>` : ''}</dl>
        <h2>Outstanding offers (${(f.offers || []).length})</h2>
        ${offers ? `<table><thead><tr><th>Offer</th><th>Agent</th><th>Resources</th></tr></thead><tbody>${offers}</tbody></table>` : '<div class="empty">No offers</div>'}
        <h2>Active tasks (${active.length})</h2>${tasksTable(active.slice(0, 500), false)}
        <h2>Completed tasks</h2>${tasksTable(done, false)}`;
    },
  };

  pages.roles = {
    render() {
      const weights = model.roles;
      return `<h1>Roles</h1>${rolesTable(weights, false)}
        <p class="muted">Dominant share: the largest fraction of any resource kind that the role holds (weighted DRF orders roles by it, divided by the weight).</p>`;
    },
  };

  pages.tasks = {
    mount(root) {
      root.insertAdjacentHTML('afterbegin', `<h1>Tasks</h1><div class="controls">
        <input type="search" id="task-filter" placeholder="Filter by id, name, framework or agent" value="${esc(ui.tasksFilter)}" data-testid="task-filter">
        <select id="task-state" data-testid="task-state-filter">
          <option value="active">Active</option><option value="completed">Completed</option><option value="all">All</option></select>
        <span class="muted" id="task-count"></span></div>`);
      $('#task-state').value = ui.tasksState;
      $('#task-filter').addEventListener('input', (e) => { ui.tasksFilter = e.target.value; ui.tasksPage = 0; renderNow(); });
      $('#task-state').addEventListener('change', (e) => { ui.tasksState = e.target.value; ui.tasksPage = 0; renderNow(); });
    },
    render() {
      const q = ui.tasksFilter.trim().toLowerCase();
      const want = ui.tasksState;
      let tasks = [];
      for (const t of model.tasks.values()) {
        const done = TERMINAL.has(t.state);
        if ((want === 'active' && done) || (want === 'completed' && !done)) continue;
        if (q) {
          const hay = `${idv(t.task_id)} ${t.name} ${frameworkName(idv(t.framework_id))} ${agentHost(idv(t.agent_id))} ${t.state}`.toLowerCase();
          if (!hay.includes(q)) continue;
        }
        tasks.push(t);
      }
      tasks.sort((a, b) => lastUpdate(b) - lastUpdate(a));
      const pagesCount = Math.max(1, Math.ceil(tasks.length / PAGE_SIZE));
      ui.tasksPage = Math.min(ui.tasksPage, pagesCount - 1);
      const count = $('#task-count');
      if (count) count.textContent = `${tasks.length} task${tasks.length === 1 ? '' : 's'}`;
      const shown = tasks.slice(ui.tasksPage * PAGE_SIZE, (ui.tasksPage + 1) * PAGE_SIZE);
      return tasksTable(shown, true) + (pagesCount > 1 ? `<div class="pager">
        <button data-page="${ui.tasksPage - 1}" ${ui.tasksPage === 0 ? 'disabled' : ''}>‹ Previous</button>
        page ${ui.tasksPage + 1} of ${pagesCount}
        <button data-page="${ui.tasksPage + 1}" ${ui.tasksPage >= pagesCount - 1 ? 'disabled' : ''}>Next ›</button></div>` : '');
    },
    click(e) {
      const b = e.target.closest('button[data-page]');
      if (b) { ui.tasksPage = Number(b.dataset.page); renderNow(); }
    },
  };

  // A task: its facts, its status history, and its sandbox with a log that follows.
  pages.task = {
    below: true,
    mount(root, fid, tid) {
      const sandbox = document.createElement('section');
      sandbox.id = 'sandbox';
      sandbox.innerHTML = `<h2>Sandbox</h2>
        <div class="tabs"><button data-file="stdout" class="on" data-testid="tab-stdout">stdout</button>
          <button data-file="stderr" data-testid="tab-stderr">stderr</button>
          <label style="margin-left:12px"><input type="checkbox" id="follow" checked data-testid="follow"> follow</label>
          <span class="muted" id="log-status"></span>
          <a id="download" style="margin-left:auto" href="#">download</a></div>
        <pre class="log" id="log" data-testid="log"></pre>
        <h2>Files</h2><div id="files"><div class="empty">Loading…</div></div>`;
      const usage = document.createElement('section');
      usage.innerHTML = '<h2>Usage</h2><dl class="kv" id="usage" data-testid="task-usage"><dd class="muted">Loading…</dd></dl>';
      root.appendChild(usage);
      root.appendChild(sandbox);
      this.usage = new UsagePoller(fid, tid);
      this.viewer = new LogViewer(fid, tid);
      sandbox.addEventListener('click', (e) => {
        const tab = e.target.closest('button[data-file]');
        if (tab) {
          for (const b of sandbox.querySelectorAll('button[data-file]')) b.classList.toggle('on', b === tab);
          this.viewer.open(tab.dataset.file);
        }
        const file = e.target.closest('a[data-open]');
        if (file) { e.preventDefault(); this.viewer.open(file.dataset.open); }
      });
      $('#follow').addEventListener('change', (e) => this.viewer.setFollow(e.target.checked));
      this.viewer.open('stdout');
      this.viewer.listFiles();
    },
    unmount() {
      if (this.viewer) this.viewer.stop();
      if (this.usage) this.usage.stop();
      this.viewer = null; this.usage = null;
    },
    render(fid, tid) {
      const t = model.tasks.get(taskKey(fid, tid));
      if (!t) return `<h1>Task ${esc(tid)}</h1><div class="empty">The master does not know this task (any more).</div>`;
      const res = scalars(t.resources);
      const statuses = (t.statuses || []).slice().reverse().map((s) => `<tr><td>${stateBadge(s.state)}</td><td>${s.timestamp ? esc(new Date(s.timestamp * 1000).toLocaleString()) : ''}</td></tr>`).join('');
      return `<h1>Task <span class="mono">${esc(tid)}</span> ${stateBadge(t.state)}</h1>
        <div class="two"><dl class="kv" data-testid="task-info"><dt>Name</dt><dd>${esc(t.name)}</dd>
          <dt>Framework</dt><dd><a href="#/frameworks/${encodeURIComponent(fid)}">${esc(frameworkName(fid))}</a></dd>
          <dt>Agent</dt><dd><a href="#/agents/${encodeURIComponent(idv(t.agent_id))}">${esc(agentHost(idv(t.agent_id)))}</a></dd>
          <dt>Executor</dt><dd class="mono">${esc(idv(t.executor_id) || '(command executor)')}</dd><dt>Role</dt><dd>${esc(t.role || '')}</dd>
          <dt>Resources</dt><dd>${Object.entries(res).map(([k, v]) => `${esc(k)}: ${fmt(k, v)}`).join(', ')}</dd>
          ${t.status_message ? `<dt>Message</dt><dd>${esc(t.status_message)}</dd>` : ''}</dl>
          <table><thead><tr><th>Status</th><th>Time</th></tr></thead><tbody>${statuses}</tbody></table></div>`;
    },
  };

  // Why a framework gets no offers: the allocator's reasons per role (GET_WHY_NOT_OFFERED).
  class WhyPoller {
    constructor(fid) { this.fid = fid; this.timer = null; this.stopped = false; this.tick(); }
    stop() { this.stopped = true; clearTimeout(this.timer); }
    async tick() {
      const el = $('#why-offers');
      if (this.stopped || !el) return;
      try {
        const w = await call('GET_WHY_NOT_OFFERED', { get_why_not_offered: { framework_id: { value: this.fid } } });
        const rows = (w.roles || []).flatMap((r) => r.reasons.map((x) => `<tr data-reason="${esc(x.reason)}"><td>${esc(r.role)}</td>
          <td class="mono">${esc(x.reason)}</td><td class="num">${esc(x.agents)}</td><td>${esc(x.message)}</td></tr>`)).join('');
        el.innerHTML = (w.message ? `<p>${esc(w.message)}</p>` : '') + (rows
          ? `<table><thead><tr><th>Role</th><th>Reason</th><th class="num">Agents</th><th>Detail</th></tr></thead><tbody>${rows}</tbody></table>`
          : '<div class="empty">Nothing keeps it from offers</div>');
      } catch (e) {
        el.innerHTML = `<div class="empty">${esc(e.status === 400 ? 'The master no longer knows this framework' : e.message)}</div>`;
      }
      this.timer = setTimeout(() => this.tick(), 3000);
    }
  }

  // What the task's container uses, from its agent's /monitor/statistics (through the master).
  class UsagePoller {
    constructor(fid, tid) {
      this.url = `/webui/sandbox/${encodeURIComponent(fid)}/${encodeURIComponent(tid)}/statistics`;
      this.timer = null; this.stopped = false; this.tick();
    }
    stop() { this.stopped = true; clearTimeout(this.timer); }
    async tick() {
      const el = $('#usage');
      if (this.stopped || !el) return;
      try {
        const s = await getJSON(this.url);
        const mb = (b) => (b / 1048576).toFixed(1) + ' MB';
        const rows = [['CPU time', `${((s.cpus_user_time_secs || 0) + (s.cpus_system_time_secs || 0)).toFixed(2)} s of ${s.cpus_limit} cpus`],
          ['Memory', `${mb(s.mem_total_bytes !== undefined ? s.mem_total_bytes : (s.mem_rss_bytes || 0))} of ${mb(s.mem_limit_bytes || 0)}`]];
        if (s.disk_used_bytes !== undefined) rows.push(['Disk', `${mb(s.disk_used_bytes)} of ${mb(s.disk_limit_bytes || 0)}`]);
        el.innerHTML = rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd data-usage="${esc(k)}">${esc(v)}</dd>`).join('');
      } catch (err) {
        el.innerHTML = `<dd class="muted">${esc(err.status === 404 ? 'Not running' : String(err.message || err))}</dd>`;
      }
      if (!this.stopped) this.timer = setTimeout(() => this.tick(), 5000);
    }
  }

  class LogViewer {
    constructor(fid, tid) {
      this.base = `/webui/sandbox/${encodeURIComponent(fid)}/${encodeURIComponent(tid)}`;
      this.file = null; this.offset = 0; this.follow = true; this.timer = null; this.stopped = false; this.generation = 0;
    }
    stop() { this.stopped = true; clearTimeout(this.timer); }
    setFollow(on) { this.follow = on; if (on) this.tick(); }
    status(text) { const el = $('#log-status'); if (el) el.textContent = text; }
    async open(file) {
      this.file = file; this.generation += 1; clearTimeout(this.timer);
      const log = $('#log'); if (log) log.textContent = '';
      const dl = $('#download'); if (dl) dl.href = `${this.base}/download?path=${encodeURIComponent(file)}`;
      const gen = this.generation;
      try {
        const end = await getJSON(`${this.base}/read?path=${encodeURIComponent(file)}&offset=-1`);
        if (gen !== this.generation) return;
        this.offset = Math.max(0, end.offset - 64 * 1024);
        this.status('');
      } catch (err) {
        this.offset = 0;
        this.status(err.status === 404 ? `${file}: not there yet` : String(err.message || err));
      }
      this.tick();
    }
    async tick() {
      clearTimeout(this.timer);
      if (this.stopped || !this.file) return;
      const gen = this.generation;
      try {
        while (true) {
          const chunk = await getJSON(`${this.base}/read?path=${encodeURIComponent(this.file)}&offset=${this.offset}&length=262144`);
          if (gen !== this.generation || this.stopped) return;
          if (!chunk.data) break;
          this.append(chunk.data);
          this.offset += chunk.length !== undefined ? chunk.length : new TextEncoder().encode(chunk.data).length;
          this.status('');
        }
      } catch (err) {
        if (gen !== this.generation) return;
        this.status(err.status === 404 ? `${this.file}: not there yet` : String(err.message || err));
      }
      if (this.follow && !this.stopped) this.timer = setTimeout(() => this.tick(), 1000);
    }
    append(text) {
      const log = $('#log');
      if (!log) return;
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.appendChild(document.createTextNode(text));
      if (log.textContent.length > LOG_KEEP) log.textContent = log.textContent.slice(-LOG_KEEP);
      if (atBottom || this.follow) log.scrollTop = log.scrollHeight;
    }
    async listFiles() {
      const el = $('#files');
      try {
        const entries = await getJSON(`${this.base}/browse?path=`);
        if (!el || this.stopped) return;
        el.innerHTML = entries.length ? `<table data-testid="files-table"><thead><tr><th>Mode</th><th>Name</th><th class="num">Size</th><th>Modified</th></tr></thead><tbody>${
          entries.map((e) => {
            const name = e.relative_path || e.path.split('/').pop();
            const isDir = e.mode.startsWith('d');
            return `<tr><td class="mono">${esc(e.mode)}</td><td>${isDir ? esc(name) + '/' : `<a href="#" data-open="${esc(name)}">${esc(name)}</a>`}</td>
              <td class="num">${esc(e.size)}</td><td>${esc(ago(e.mtime))}</td></tr>`;
          }).join('')}</tbody></table>` : '<div class="empty">Empty sandbox</div>';
      } catch (err) {
        if (el) el.innerHTML = `<div class="empty">${esc(err.message || err)}</div>`;
      }
    }
  }

  // ---------------------------------------------------------------- routing and rendering

  function parseRoute() {
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
    if (!parts.length) return ['overview', []];
    if (parts[0] === 'agents' && parts[1]) return ['agent', [parts[1]]];
    if (parts[0] === 'frameworks' && parts[1]) return ['framework', [parts[1]]];
    if (parts[0] === 'tasks' && parts[1] && parts[2]) return ['task', [parts[1], parts[2]]];
    if (pages[parts[0]]) return [parts[0], []];
    return ['overview', []];
  }

  function route() {
    const [name, args] = parseRoute();
    if (ui.page && ui.page.unmount) ui.page.unmount();
    ui.route = name; ui.args = args; ui.page = pages[name];
    const main = $('#main');
    main.innerHTML = '';
    const view = document.createElement('div');
    view.id = 'view';
    main.appendChild(view);
    if (ui.page.mount) {
      const holder = document.createElement('div');
      main.insertBefore(holder, view);
      ui.page.mount(ui.page.below ? main : holder, ...args);
    }
    renderNow();
    window.scrollTo(0, 0);
  }

  function scheduleRender() {
    if (ui.renderTimer) return;
    ui.renderTimer = setTimeout(renderNow, RENDER_MS);
  }
  function renderNow() {
    clearTimeout(ui.renderTimer);
    ui.renderTimer = null;
    renderChrome();
    const view = $('#view');
    if (!view || !ui.page) return;
    if (!model.loaded) { view.innerHTML = '<p class="muted">Loading the cluster state…</p>'; return; }
    view.innerHTML = ui.page.render(...ui.args);
    document.body.dataset.ready = 'true';
  }

  // ---------------------------------------------------------------- start

  async function start() {
    for (const m of (new URLSearchParams(location.search).get('masters') || '').split(',')) if (m) known.add(m);
    known.add(location.host);
    window.addEventListener('hashchange', route);
    $('#main').addEventListener('click', (e) => { if (ui.page && ui.page.click) ui.page.click(e); });
    route();
    await followLeader();
    subscribe();
    poll();
    setInterval(poll, POLL_MS);
    setInterval(scheduleRender, 5000); // relative times ("12s ago")
  }

  window.corral = { model, known }; // for debugging in the browser console
  start();
})();
