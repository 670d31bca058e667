// SPDX-License-Identifier: LGPL-2.1-or-later
// app.js - the deskpool operator dashboard
//
// Plain JavaScript, no library, no build step, nothing from another
// server: the page is served with Content-Security-Policy default-src
// 'self'. The token the operator types is kept in sessionStorage (this tab
// only) and sent as "Authorization: Bearer" on every API call; a 401
// forgets it and says so. Pools, sessions and operations are read every
// 2 s, the history (GET /v1/history) every 15 s; charts are SVG drawn
// here. Stable ids and data-* attributes (data-pool, data-state,
// data-count, data-percent, data-session) are what tests/browser/ reads.
'use strict';

(function () {
    const TOKEN_KEY = 'deskpool.token';
    const POLL_MS = 2000;
    const HISTORY_MS = 15000;
    const SVGNS = 'http://www.w3.org/2000/svg';
    // bar order: what can be handed out first, then what is taken, then the rest
    const STATES = ['ready', 'assigned', 'in_use', 'releasing', 'provisioning', 'booting',
                    'rebasing', 'failed', 'deleting'];
    const STATE_LABEL = {
        ready: 'ready', assigned: 'assigned', in_use: 'in use', releasing: 'releasing',
        provisioning: 'provisioning', booting: 'booting', rebasing: 'rebasing',
        failed: 'failed', deleting: 'deleting',
    };
    const PALETTE = ['#2f6fd6', '#2e9e5b', '#d97706', '#8e44ad', '#17a2b8', '#c53030',
                     '#6b7280', '#b7791f'];

    let token = null;
    let role = null;
    let timer = null;
    let busy = false;
    let lastHistory = 0;
    let history = null;
    let range = 60;
    let selectedPool = null;
    let confirming = null; // {id, until}: a force logoff waiting for its second click
    let sessionsCache = [];
    let generation = 0;    // a new token or none: answers to earlier requests are dropped

    function $(id) { return document.getElementById(id); }

    // el('div', {class: 'x', 'data-pool': 'p'}, child, 'text', ...)
    function el(tag, attrs, ...children) {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
            if (v === null || v === undefined || v === false)
                continue;
            if (k === 'class')
                e.className = v;
            else if (k === 'text')
                e.textContent = v;
            else if (k.startsWith('on'))
                e.addEventListener(k.slice(2), v);
            else
                e.setAttribute(k, v === true ? '' : String(v));
        }
        for (const c of children) {
            if (c === null || c === undefined)
                continue;
            e.append(c instanceof Node ? c : document.createTextNode(String(c)));
        }
        return e;
    }

    function svg(tag, attrs) {
        const e = document.createElementNS(SVGNS, tag);
        for (const [k, v] of Object.entries(attrs || {}))
            if (k === 'text')
                e.textContent = v;
            else
                e.setAttribute(k, String(v));
        return e;
    }

    function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

    function age(iso) {
        if (!iso)
            return '';
        let s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
        if (s < 60)
            return s + ' s';
        if (s < 3600)
            return Math.floor(s / 60) + ' min';
        const h = Math.floor(s / 3600);
        s = Math.floor((s % 3600) / 60);
        return h + ' h ' + s + ' min';
    }

    function hhmm(iso) {
        const d = new Date(iso);
        return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
    }

    // --- the API ---

    class ApiError extends Error {
        constructor(status, code, message) {
            super(message);
            this.status = status;
            this.code = code;
        }
    }

    async function api(method, path, auth = true) {
        const headers = {};
        let resp;
        let body = null;

        if (auth)
            headers.Authorization = 'Bearer ' + token;
        try {
            resp = await fetch(path, { method, headers, cache: 'no-store' });
        } catch (e) {
            throw new ApiError(0, 'unreachable', 'deskpoold cannot be reached (' + e.message + ').');
        }
        try {
            body = await resp.json();
        } catch (e) {
            body = null;
        }
        if (!resp.ok && !(path === '/healthz' && resp.status === 503)) {
            const err = body && body.error ? body.error : {};
            throw new ApiError(resp.status, err.code || 'http_' + resp.status,
                               err.message || resp.statusText || 'HTTP ' + resp.status);
        }
        return body;
    }

    // --- state of the page ---

    function setRefresh(state, text) {
        $('refresh').dataset.state = state;
        if (text)
            $('refresh-text').textContent = text;
    }

    function showBanner(msg) {
        $('error-banner').textContent = msg;
        $('error-banner').hidden = false;
    }

    function hideBanner() { $('error-banner').hidden = true; }

    function stopPolling() {
        if (timer)
            clearInterval(timer);
        timer = null;
    }

    // Back to the token form with MSG (null: none); no data stays on the page.
    function showLogin(msg) {
        stopPolling();
        generation++;
        token = null;
        role = null;
        history = null;
        selectedPool = null;
        sessionStorage.removeItem(TOKEN_KEY);
        for (const id of ['pools', 'operations', 'sessions-body', 'pool-detail'])
            clear($(id));
        delete $('pool-detail').dataset.pool;
        $('pool-detail').hidden = true;
        $('sessions-message').hidden = true;
        for (const id of ['chart-acquires', 'chart-ready', 'chart-latency'])
            clear($(id));
        $('dash').hidden = true;
        $('role').hidden = true;
        $('forget').hidden = true;
        $('login').hidden = false;
        $('token-error').hidden = !msg;
        $('token-error').textContent = msg || '';
        setRefresh('idle', 'not connected');
        $('token-input').focus();
    }

    function refused(e) {
        if (e.status === 401)
            return 'Token refused: deskpoold answered 401 (' + e.message + ')';
        return 'Token refused for the dashboard: deskpoold answered ' + e.status + ' (' +
            e.message + ') - use a reader or operator token.';
    }

    async function start() {
        const gen = ++generation;
        let who;

        try {
            who = await api('GET', '/v1/whoami');
        } catch (e) {
            if (e.status === 401 || e.status === 403) {
                showLogin(refused(e));
                return;
            }
            showBanner('deskpoold API unreachable: ' + e.message + ' Retrying...');
            setRefresh('error', 'retrying');
            setTimeout(() => { if (token) start(); }, POLL_MS);
            return;
        }
        if (gen !== generation)
            return;
        role = who.role;
        $('login').hidden = true;
        $('dash').hidden = false;
        $('role').hidden = false;
        $('role').textContent = role + ' token';
        $('role').dataset.role = role;
        $('forget').hidden = false;
        $('sessions-role-note').hidden = role === 'operator';
        lastHistory = 0;
        await refresh();
        if (token && !timer)
            timer = setInterval(refresh, POLL_MS);
    }

    async function refresh() {
        if (busy || !token)
            return;
        busy = true;
        setRefresh('busy');
        const gen = generation;
        try {
            const [pools, sessions, ops] = await Promise.all([
                api('GET', '/v1/pools'),
                api('GET', '/v1/sessions?limit=1000'),
                api('GET', '/v1/operations?limit=30'),
            ]);
            if (gen !== generation)
                return;
            renderPools(pools.pools);
            renderSessions(sessions.sessions);
            renderOperations(ops.operations);
            if (selectedPool)
                await refreshDetail();
            if (Date.now() - lastHistory >= HISTORY_MS) {
                const [h, health] = await Promise.all([
                    api('GET', '/v1/history'), api('GET', '/healthz', false),
                ]);
                if (gen !== generation)
                    return;
                history = h;
                lastHistory = Date.now();
                renderHistory();
                renderHealth(health);
            }
            hideBanner();
            setRefresh('ok', 'updated ' + new Date().toLocaleTimeString());
        } catch (e) {
            if (gen !== generation) {
                // answered for a token given up meanwhile: nothing to show
            } else if (e.status === 401 || e.status === 403) {
                showLogin(refused(e));
            } else if (e.status === 0) {
                showBanner('deskpoold API unreachable: ' + e.message + ' The figures below are ' +
                           'from the last answer.');
                renderHealth({ status: 'unreachable' });
                setRefresh('error', 'unreachable');
            } else {
                showBanner('deskpoold API error ' + e.status + ': ' + e.message);
                setRefresh('error', 'error ' + e.status);
            }
        } finally {
            busy = false;
        }
    }

    function renderHealth(h) {
        $('daemon-host').textContent = location.host;
        $('daemon-instance').textContent = h.instance ?
            'instance ' + h.instance + (h.version ? ' · ' + h.version : '') : '';
        $('daemon-health').textContent = h.status || '?';
        $('daemon-health').dataset.status = h.status || 'unknown';
        $('daemon-health').title = h.uri ? 'libvirt ' + h.uri + ', ' + (h.libvirt || '') : '';
    }

    // --- pools ---

    function poolBar(p) {
        const counts = p.counts || {};
        const total = counts.total || 0;
        const scale = Math.max(p.max || 0, total, 1);
        const bar = el('div', { class: 'bar', 'data-pool': p.name });

        for (const s of STATES) {
            const n = counts[s] || 0;
            if (n === 0)
                continue;
            const seg = el('div', {
                class: 'seg state-' + s, 'data-pool': p.name, 'data-state': s, 'data-count': n,
                title: STATE_LABEL[s] + ': ' + n,
            });
            seg.style.width = (100 * n / scale) + '%';
            bar.append(seg);
        }
        const marks = [['min', p.min, 'min ' + p.min], ['max', p.max, 'max ' + p.max]];
        if (p.spare > 0)
            marks.push(['spare', p.spare, 'spare ' + p.spare]);
        for (const [kind, v, label] of marks) {
            const m = el('div', {
                class: 'mark mark-' + kind, 'data-mark': kind, 'data-value': v, 'data-label': label,
                title: kind === 'spare' ? 'spare: ' + v + ' ready desktops wanted' : label,
            });
            m.style.left = 'calc(' + (100 * v / scale) + '% - 1px)';
            bar.append(m);
        }
        return bar;
    }

    function renderPools(pools) {
        const box = $('pools');
        clear(box);
        $('pools-empty').hidden = pools.length > 0;
        for (const p of pools) {
            const c = p.counts || {};
            const legend = el('div', { class: 'counts' });
            for (const s of STATES) {
                const n = c[s] || 0;
                legend.append(el('span', {
                    class: 'count' + (n === 0 ? ' zero' : ''), 'data-pool': p.name, 'data-state': s,
                    'data-count': n,
                }, el('i', { class: 'swatch state-' + s }), STATE_LABEL[s] + ' ' + n));
            }
            const version = p.image_version === 'latest' ? 'latest (v' + p.current_version + ')' :
                'v' + p.image_version;
            const card = el('div', {
                class: 'pool' + (p.name === selectedPool ? ' selected' : ''), 'data-pool': p.name,
                'data-total': c.total || 0, 'data-min': p.min, 'data-spare': p.spare,
                'data-max': p.max, tabindex: 0, role: 'button',
                onclick: () => selectPool(p.name),
                onkeydown: (ev) => { if (ev.key === 'Enter') selectPool(p.name); },
            },
            el('div', { class: 'pool-head' },
               el('span', { class: 'pool-name', text: p.name }),
               el('span', {
                   class: 'pool-meta',
                   text: p.mode + ' · ' + p.image + ' ' + version + ' · min ' + p.min + ' / spare ' +
                       p.spare + ' / max ' + p.max + (p.state === 'deleting' ? ' · deleting' : ''),
               }),
               el('span', { class: 'pool-total', text: (c.total || 0) + ' desktops' })),
            poolBar(p), legend);
            box.append(card);
        }
        if (selectedPool && !pools.some((p) => p.name === selectedPool))
            closeDetail();
    }

    function selectPool(name) {
        if (selectedPool === name) {
            closeDetail();
            return;
        }
        selectedPool = name;
        for (const c of document.querySelectorAll('.pool'))
            c.classList.toggle('selected', c.dataset.pool === name);
        refreshDetail().catch((e) => showBanner('Cannot read pool ' + name + ': ' + e.message));
    }

    function closeDetail() {
        selectedPool = null;
        clear($('pool-detail'));
        delete $('pool-detail').dataset.pool;
        $('pool-detail').hidden = true;
        for (const c of document.querySelectorAll('.pool.selected'))
            c.classList.remove('selected');
    }

    async function refreshDetail() {
        const name = selectedPool;
        let p;

        try {
            p = await api('GET', '/v1/pools/' + encodeURIComponent(name));
        } catch (e) {
            if (e.status === 404) {
                closeDetail();
                return;
            }
            throw e;
        }
        if (selectedPool !== name || !token)
            return;
        const box = $('pool-detail');
        const rows = (p.desktops || []).map((d) => el('tr', { 'data-desktop': d.name },
            el('td', { text: d.name }),
            el('td', {}, el('span', { class: 'badge state-' + d.state, text: STATE_LABEL[d.state] ||
                                                                              d.state })),
            el('td', { text: d.host || '' }),
            el('td', { class: 'num', text: d.image_version ? 'v' + d.image_version : '' }),
            el('td', { text: d.owner || '' }),
            el('td', { class: 'num', text: age(d.state_since) }),
            el('td', { class: 'err', text: d.last_error || '' })));
        clear(box);
        box.dataset.pool = name;
        box.append(
            el('h3', {}, 'Desktops of ' + name,
               el('span', { class: 'hint', text: (p.desktops || []).length + ' desktops' }),
               el('button', { type: 'button', class: 'ghost', onclick: closeDetail, text: 'Close' })),
            el('table', { class: 'table', id: 'desktops' },
               el('thead', {}, el('tr', {}, el('th', { text: 'Desktop' }), el('th', { text: 'State' }),
                                 el('th', { text: 'Host' }), el('th', { class: 'num', text: 'Image' }),
                                 el('th', { text: 'Owner' }), el('th', { class: 'num', text: 'In state' }),
                                 el('th', { text: 'Last error' }))),
               el('tbody', {}, ...rows)));
        box.hidden = false;
    }

    // --- sessions ---

    function sessionsMessage(text, isError) {
        const m = $('sessions-message');
        m.textContent = text;
        m.className = 'message' + (isError ? ' error' : '');
        m.hidden = false;
    }

    async function forceLogoff(id) {
        const s = sessionsCache.find((x) => x.id === id);
        const who = s ? "user '" + s.user + "' on " + s.desktop : id;

        try {
            await api('DELETE', '/v1/sessions/' + encodeURIComponent(id) + '?reason=forced');
            sessionsMessage('Session of ' + who + ' ended (forced logoff).', false);
        } catch (e) {
            if (e.status === 403)
                sessionsMessage('Force logoff refused (403): ' + e.message, true);
            else if (e.status === 401)
                showLogin(refused(e));
            else
                sessionsMessage('Force logoff of ' + who + ' failed (' + (e.status || 'no answer') +
                                '): ' + e.message, true);
        }
        confirming = null;
        if (token)
            refresh();
    }

    function renderSessions(list) {
        const body = $('sessions-body');
        const now = Date.now();

        sessionsCache = list;
        clear(body);
        $('sessions-count').textContent = String(list.length);
        $('sessions-empty').hidden = list.length > 0;
        if (confirming && confirming.until < now)
            confirming = null;
        for (const s of list) {
            let action = null;
            if (role === 'operator') {
                const armed = confirming && confirming.id === s.id;
                action = el('button', {
                    type: 'button', class: 'danger force-logoff' + (armed ? ' confirming' : ''),
                    'data-session': s.id, text: armed ? 'Confirm logoff' : 'Force logoff',
                    title: 'End this session now: the user is logged off and the desktop wiped',
                    onclick: () => {
                        if (confirming && confirming.id === s.id) {
                            forceLogoff(s.id);
                        } else {
                            confirming = { id: s.id, until: Date.now() + 5000 };
                            renderSessions(sessionsCache);
                        }
                    },
                });
            }
            body.append(el('tr', { 'data-session': s.id, 'data-user': s.user },
                el('td', { text: s.user }),
                el('td', { text: s.client || '' }),
                el('td', { text: s.desktop }),
                el('td', { text: s.pool }),
                el('td', { class: 'num', text: age(s.created_at), title: s.created_at }),
                el('td', { class: 'op-col' }, action)));
        }
    }

    // --- operations ---

    function opPercent(o) {
        if (o.state === 'succeeded')
            return 100;
        if (!o.total)
            return 0;
        return Math.min(100, Math.floor(100 * o.done / o.total));
    }

    function renderOperations(ops) {
        const box = $('operations');
        const running = ops.filter((o) => o.state === 'running' || o.state === 'pending');
        const done = ops.filter((o) => !running.includes(o)).slice(0, 5);
        const shown = running.concat(done);

        clear(box);
        $('ops-empty').hidden = shown.length > 0;
        for (const o of shown) {
            const pct = opPercent(o);
            const fill = el('div', { class: 'fill' });
            fill.style.width = pct + '%';
            const target = o.kind === 'rebase' ? ' v' + o.from_version + ' → v' + o.to_version :
                ' to v' + o.to_version;
            box.append(el('div', {
                class: 'op', 'data-op': o.id, 'data-pool': o.pool, 'data-kind': o.kind,
                'data-state': o.state, 'data-percent': pct,
            },
            el('div', { class: 'op-line' },
               el('span', { class: 'op-title', text: o.kind + ' ' + o.pool + target }),
               el('span', { class: 'op-step', text: o.error || o.step || '', title: o.error || o.step || '' }),
               el('span', { class: 'op-state', text: o.state })),
            el('div', {
                class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100,
                'aria-valuenow': pct,
            }, fill),
            el('div', {
                class: 'progress-text',
                text: o.done + ' / ' + o.total + ' desktops · ' + pct + '%' +
                    (o.failed ? ' · ' + o.failed + ' failed' : '') + ' · started ' + age(o.created_at) +
                    ' ago by ' + (o.created_by || '?'),
            })));
        }
    }

    // --- history charts ---

    const W = 360, H = 130, PAD_L = 30, PAD_R = 6, PAD_T = 8, PAD_B = 18;

    function niceMax(v) {
        if (v <= 0)
            return 1;
        const p = Math.pow(10, Math.floor(Math.log10(v)));
        for (const m of [1, 2, 2.5, 5, 10])
            if (m * p >= v)
                return m * p;
        return 10 * p;
    }

    function fmt(v) {
        if (v >= 1000)
            return (v / 1000).toFixed(v >= 10000 ? 0 : 1) + 'k';
        return String(Math.round(v * 10) / 10);
    }

    // Draws SERIES ({name, color, values: [number|null], dashed, area}) over
    // the samples SAMPLES into svg NODE.
    function drawChart(node, samples, series) {
        clear(node);
        const n = samples.length;
        const innerW = W - PAD_L - PAD_R, innerH = H - PAD_T - PAD_B;
        let max = 0;
        for (const s of series)
            for (const v of s.values)
                if (v !== null && v > max)
                    max = v;
        max = niceMax(max);
        // the last sample at the right edge; one step per minute of the range
        const x = (i) => PAD_L + innerW - (n - 1 - i) * innerW / Math.max(1, range - 1);
        const y = (v) => PAD_T + innerH - (v / max) * innerH;

        for (const f of [0, 0.5, 1]) {
            node.append(svg('line', { class: 'grid', x1: PAD_L, x2: W - PAD_R, y1: y(max * f),
                                      y2: y(max * f) }));
            node.append(svg('text', { class: 'axis', x: PAD_L - 4, y: y(max * f) + 3,
                                      'text-anchor': 'end', text: fmt(max * f) }));
        }
        if (n > 0) {
            const startIso = samples[0].at;
            const leftLabel = n >= range ? hhmm(startIso) : '-' + Math.round(range / 60) + ' h';
            node.append(svg('text', { class: 'axis', x: PAD_L, y: H - 5, text: leftLabel }));
            node.append(svg('text', { class: 'axis', x: W - PAD_R, y: H - 5, 'text-anchor': 'end',
                                      text: hhmm(samples[n - 1].at) }));
        }
        for (const s of series) {
            let d = '';
            let pen = false;
            let lastPt = null;
            let points = 0;
            s.values.forEach((v, i) => {
                if (v === null) {
                    pen = false;
                    return;
                }
                const px = x(i).toFixed(1), py = y(v).toFixed(1);
                d += (pen ? 'L' : 'M') + px + ' ' + py + ' ';
                pen = true;
                lastPt = [px, py];
                points++;
            });
            if (!lastPt)
                continue;
            if (s.area) {
                const firstIdx = s.values.findIndex((v) => v !== null);
                node.append(svg('path', {
                    class: 'area', fill: s.color,
                    d: d + 'L' + lastPt[0] + ' ' + y(0) + ' L' + x(firstIdx).toFixed(1) + ' ' + y(0) + ' Z',
                }));
            }
            // one point alone still shows as a line of zero length with a dot
            if (points === 1)
                d += 'L' + lastPt[0] + ' ' + lastPt[1];
            node.append(svg('path', {
                class: 'line' + (s.dashed ? ' dashed' : ''), stroke: s.color, d: d.trim(),
                'data-series': s.name,
            }));
            node.append(svg('circle', { cx: lastPt[0], cy: lastPt[1], r: 2, fill: s.color }));
        }
        const cursor = svg('line', { class: 'cursor', x1: 0, x2: 0, y1: PAD_T, y2: H - PAD_B,
                                     visibility: 'hidden' });
        node.append(cursor);
        return { x, cursor };
    }

    function legend(node, series) {
        clear(node);
        for (const s of series) {
            const sw = el('i');
            sw.style.background = s.color;
            node.append(el('span', {}, sw, s.name));
        }
    }

    // Shows the values under the mouse in READOUT; the latest otherwise.
    function hover(node, samples, geo, readout, describe) {
        const show = (i) => { readout.textContent = describe(samples[i]); };
        if (samples.length > 0)
            show(samples.length - 1);
        node.onmousemove = (ev) => {
            const r = node.getBoundingClientRect();
            const px = (ev.clientX - r.left) * W / r.width;
            let best = samples.length - 1, dist = Infinity;
            samples.forEach((_, i) => {
                const dd = Math.abs(geo.x(i) - px);
                if (dd < dist) {
                    dist = dd;
                    best = i;
                }
            });
            if (best < 0)
                return;
            geo.cursor.setAttribute('x1', geo.x(best));
            geo.cursor.setAttribute('x2', geo.x(best));
            geo.cursor.setAttribute('visibility', 'visible');
            show(best);
        };
        node.onmouseleave = () => {
            geo.cursor.setAttribute('visibility', 'hidden');
            if (samples.length > 0)
                show(samples.length - 1);
        };
    }

    function renderHistory() {
        if (!history)
            return;
        const samples = history.samples.slice(-range);
        for (const b of document.querySelectorAll('#history-range button'))
            b.classList.toggle('active', Number(b.dataset.range) === range);

        const acq = [
            { name: 'acquires', color: '#2f6fd6', area: true, values: samples.map((s) => s.acquires) },
            { name: 'failures', color: '#c53030', values: samples.map((s) => s.acquire_failures) },
        ];
        let geo = drawChart($('chart-acquires'), samples, acq);
        legend($('chart-acquires-legend'), acq);
        hover($('chart-acquires'), samples, geo, $('chart-acquires-readout'),
              (s) => hhmm(s.at) + ': ' + s.acquires + ' ok, ' + s.acquire_failures + ' failed');

        const names = [];
        for (const s of samples)
            for (const p of Object.keys(s.pools || {}))
                if (!names.includes(p))
                    names.push(p);
        names.sort();
        const ready = names.slice(0, PALETTE.length).map((p, i) => ({
            name: p, color: PALETTE[i],
            values: samples.map((s) => (s.pools && s.pools[p] ? s.pools[p].ready : null)),
        }));
        geo = drawChart($('chart-ready'), samples, ready);
        legend($('chart-ready-legend'), ready);
        hover($('chart-ready'), samples, geo, $('chart-ready-readout'),
              (s) => hhmm(s.at) + ': ' + Object.entries(s.pools || {}).map(
                  ([p, c]) => p + ' ' + c.ready + ' ready/' + c.in_use + ' in use').join(', '));

        const lat = [
            { name: 'p50', color: '#2e9e5b', values: samples.map((s) => s.latency_ms ? s.latency_ms.p50 : null) },
            { name: 'p99', color: '#d97706', values: samples.map((s) => s.latency_ms ? s.latency_ms.p99 : null) },
            { name: 'max', color: '#c53030', dashed: true,
              values: samples.map((s) => s.latency_ms ? s.latency_ms.max : null) },
        ];
        geo = drawChart($('chart-latency'), samples, lat);
        legend($('chart-latency-legend'), lat);
        hover($('chart-latency'), samples, geo, $('chart-latency-readout'),
              (s) => hhmm(s.at) + ': ' + (s.latency_ms ? 'p50 ' + s.latency_ms.p50 + ', p99 ' +
                  s.latency_ms.p99 + ', max ' + s.latency_ms.max + ' ms' : 'no acquires'));
    }

    // --- wiring ---

    document.addEventListener('DOMContentLoaded', () => {
        $('daemon-host').textContent = location.host;
        api('GET', '/healthz', false).then(renderHealth).catch(() => renderHealth({ status: 'unreachable' }));
        $('token-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            const t = $('token-input').value.trim();
            if (!t)
                return;
            $('token-input').value = '';
            token = t;
            sessionStorage.setItem(TOKEN_KEY, t);
            $('token-error').hidden = true;
            start();
        });
        $('forget').addEventListener('click', () => showLogin(null));
        for (const b of document.querySelectorAll('#history-range button'))
            b.addEventListener('click', () => {
                range = Number(b.dataset.range);
                renderHistory();
            });
        // for tests and the console: what the button does, without the button
        window.deskpoolDashboard = { forceLogoff, refresh };
        token = sessionStorage.getItem(TOKEN_KEY);
        if (token)
            start();
        else
            showLogin(null);
    });
}());
