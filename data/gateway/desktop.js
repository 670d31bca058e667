// SPDX-License-Identifier: LGPL-2.1-or-later
// desktop.js - opens the desktop's console through deskpool-gateway.
//
// The ticket comes in the query (/desktop?ticket=T) and is stripped from the
// address bar at once (history.replaceState), before anything else runs. The
// websocket /console?ticket=T is the gateway's: it redeems the ticket with
// deskpoold and does the VNC authentication itself, so there is never a
// password to ask for here. No clipboard in either direction (hospital
// rule): no panel, clipboardPasteFrom() is never called and noVNC's
// "clipboard" events are not listened to. No file transfer.
//
// window.deskpool is for browser tests and benchmarks: state
// ("connecting", "connected", "ended"), and performance.now() stamps:
// startAt (this module ran), wsOpenAt (the websocket opened), connectAt
// (noVNC's "connect", after ServerInit), firstFrameAt (the first FramebufferUpdate drawn), closeCode.
import RFB from "/novnc/core/rfb.js";

const CLOSE_SESSION_ENDED = 4001;
const CLOSE_TICKET = 4003;

const deskpool = {
    state: "connecting",
    startAt: performance.now(),
    wsOpenAt: null,
    connectAt: null,
    firstFrameAt: null,
    closeCode: null,
    endedReason: null,
};
window.deskpool = deskpool;

const ticket = new URLSearchParams(location.search).get("ticket") || "";
history.replaceState(null, "", location.pathname);
document.title = "Desktop \u2013 connecting";

const status = document.getElementById("status");
const screen = document.getElementById("screen");

function end(reason) {
    if (deskpool.state === "ended")
        return;
    deskpool.state = "ended";
    deskpool.endedReason = reason;
    document.title = "Desktop \u2013 ended";
    location.replace(reason === "ended" ? "/ended" : "/ended?reason=" + reason);
}

function reasonForClose(code) {
    if (code === CLOSE_SESSION_ENDED)
        return "ended";
    if (code === CLOSE_TICKET)
        return "ticket";
    return "lost";
}

const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const url = scheme + "//" + location.host + "/console?ticket=" + encodeURIComponent(ticket);
const rfb = new RFB(screen, url);
rfb.scaleViewport = true;
rfb.resizeSession = false;
rfb.viewOnly = false;
rfb.focusOnClick = true;

// noVNC's "disconnect" does not carry the websocket's close code: take it
// from its Websock's close handler, which gets the CloseEvent first.
const sock = rfb._sock;
const onSockClose = sock._eventHandlers.close;
sock._eventHandlers.close = (e) => {
    deskpool.closeCode = e.code;
    onSockClose(e);
};
// ... and when the websocket opened (TLS and upgrade done; the gateway then
// redeems the ticket and authenticates to the desktop before RFB starts)
const onSockOpen = sock._eventHandlers.open;
sock._eventHandlers.open = (e) => {
    deskpool.wsOpenAt = performance.now();
    onSockOpen(e);
};

// The first frame: the end of the first FramebufferUpdate (RFB's
// _framebufferUpdate() returns true), once Display drew it - flip() ends
// every update and runs again from the render queue when images were
// still decoding. The flips of the initial resize do not count.
const display = rfb._display;
let updateDone = false;
function firstFrame() {
    if (deskpool.firstFrameAt === null && updateDone && display._renderQ.length === 0) {
        deskpool.firstFrameAt = performance.now();
        document.documentElement.dataset.firstFrame = "1";
    }
}
const fbu = rfb._framebufferUpdate.bind(rfb);
rfb._framebufferUpdate = () => {
    const done = fbu();
    if (done && !updateDone) {
        updateDone = true;
        firstFrame();
    }
    return done;
};
const flip = display.flip.bind(display);
display.flip = (fromQueue) => {
    flip(fromQueue);
    if (fromQueue)
        firstFrame();
};

rfb.addEventListener("connect", () => {
    deskpool.state = "connected";
    deskpool.connectAt = performance.now();
    status.hidden = true;
    document.title = "Desktop";
    rfb.focus();
});

rfb.addEventListener("disconnect", () => {
    end(reasonForClose(deskpool.closeCode));
});

// The gateway authenticates to the desktop: a password prompt means
// something is wrong, never something to ask the user.
rfb.addEventListener("credentialsrequired", () => {
    deskpool.closeCode = null;
    rfb.disconnect();
    end("lost");
});

rfb.addEventListener("securityfailure", () => end("lost"));

rfb.addEventListener("desktopname", (e) => {
    if (deskpool.state === "connected" && e.detail && e.detail.name)
        document.title = "Desktop \u2013 " + e.detail.name;
});
