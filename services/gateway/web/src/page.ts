// A citizen's page on another origin than the gateway: it files a report, follows its status live, shows the
// gateway's errors with their codes and field violations, and the alerts in force. It uses the client generated
// from sotong/gateway/v1/gateway_service.proto (protoc-gen-es) with Connect's web transports, in the protocol
// the page's address names: ?gateway=http://host:port&protocol=connect|grpc-web&token=<JWT>.
//
// The browser test (tests/e2e/test_gateway_browser.py) drives it through window.sotong and reads what it shows.

import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { BadRequestSchema, RetryInfoSchema } from "./gen/google/rpc/error_details_pb";
import {
  GatewayService,
  SubmitReportRequestSchema,
  type StatusChange,
} from "./gen/sotong/gateway/v1/gateway_service_pb";
import { SubmissionKind, SubmissionStatus } from "./gen/sotong/intake/v1/intake_types_pb";

type Violation = { field: string; description: string };
type Failure = { code: string; message: string; violations: Violation[]; retryAfterMs?: number };
type Outcome<T> = { ok: T } | { error: Failure };

const params = new URLSearchParams(location.search);
const gateway = params.get("gateway") ?? "http://127.0.0.1:8080";
const protocol = params.get("protocol") === "grpc-web" ? "grpc-web" : "connect";
let token = params.get("token") ?? "";

function transport(): Transport {
  const options = {
    baseUrl: gateway,
    useBinaryFormat: protocol === "grpc-web" || params.get("format") === "binary",
    interceptors: [
      (next: any) => async (request: any) => {
        if (token) request.header.set("authorization", `Bearer ${token}`);
        return next(request);
      },
    ],
  };
  return protocol === "grpc-web" ? createGrpcWebTransport(options) : createConnectTransport(options);
}

const client = createClient(GatewayService, transport());

const STATUS_LABELS: Record<number, string> = {
  [SubmissionStatus.RECEIVED]: "접수됨 received",
  [SubmissionStatus.PUBLISHED]: "게시됨 published",
  [SubmissionStatus.IN_REVIEW]: "검토 중 in review",
  [SubmissionStatus.REMOVED]: "삭제됨 removed",
  [SubmissionStatus.ACKNOWLEDGED]: "담당 부서 확인 acknowledged",
  [SubmissionStatus.IN_PROGRESS]: "처리 중 in progress",
  [SubmissionStatus.RESOLVED]: "해결됨 resolved",
  [SubmissionStatus.REJECTED]: "반려됨 rejected",
  [SubmissionStatus.REFERRED]: "이관됨 referred",
  [SubmissionStatus.DUPLICATE]: "중복 duplicate",
};

// The status as the proto and its JSON form name it (protoc-gen-es shortens enum names in TypeScript).
function statusName(status: SubmissionStatus): string {
  const name = SubmissionStatus[status];
  return name ? `SUBMISSION_STATUS_${name}` : String(status);
}

function failure(err: unknown): Failure {
  const error = ConnectError.from(err);
  const violations: Violation[] = [];
  for (const bad of error.findDetails(BadRequestSchema)) {
    for (const v of bad.fieldViolations) violations.push({ field: v.field, description: v.description });
  }
  const retry = error.findDetails(RetryInfoSchema)[0];
  const retryAfterMs = retry?.retryDelay
    ? Number(retry.retryDelay.seconds) * 1000 + Math.round(retry.retryDelay.nanos / 1e6)
    : undefined;
  return { code: Code[error.code] ?? String(error.code), message: error.rawMessage, violations, retryAfterMs };
}

function $(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing`);
  return found;
}

function showError(where: string, f: Failure): void {
  const box = $(where);
  box.hidden = false;
  box.replaceChildren();
  const head = document.createElement("div");
  head.className = "code";
  head.textContent = `${f.code}: ${f.message}`;
  box.append(head);
  for (const v of f.violations) {
    const line = document.createElement("div");
    line.className = "violation";
    line.dataset.field = v.field;
    line.textContent = `${v.field} — ${v.description}`;
    box.append(line);
  }
}

const state = {
  changes: [] as { status: string; note: string }[],
  watch: "idle" as "idle" | "open" | "ended",
  watchEnd: null as Failure | null,
};

function addChange(change: StatusChange): void {
  state.changes.push({ status: statusName(change.status), note: change.note });
  const item = document.createElement("li");
  item.dataset.status = statusName(change.status);
  const when = change.changedAt ? timestampDate(change.changedAt).toLocaleTimeString("ko-KR") : "";
  item.innerHTML = `<span class="when"></span><span class="status"></span><span class="note"></span>`;
  (item.querySelector(".when") as HTMLElement).textContent = when;
  (item.querySelector(".status") as HTMLElement).textContent = STATUS_LABELS[change.status] ?? statusName(change.status);
  (item.querySelector(".note") as HTMLElement).textContent = change.note;
  $("changes").append(item);
}

async function submit(form: { text: string; kind?: string; districtCode?: string; key?: string }): Promise<Outcome<{ trackingId: string; created: boolean }>> {
  $("submit-error").hidden = true;
  const request = create(SubmitReportRequestSchema, {
    kind: SubmissionKind[(form.kind ?? "COMPLAINT") as keyof typeof SubmissionKind],
    text: form.text,
    idempotencyKey: form.key ?? crypto.randomUUID(),
  });
  if (form.districtCode) request.location = { case: "districtCode", value: form.districtCode };
  try {
    const reply = await client.submitReport(request);
    $("tracking").textContent = reply.trackingId;
    $("tracking-row").hidden = false;
    return { ok: { trackingId: reply.trackingId, created: reply.created } };
  } catch (err) {
    const f = failure(err);
    showError("submit-error", f);
    return { error: f };
  }
}

// Starts following a submission; resolves once the stream is open and the history has arrived.
async function watch(trackingId: string, timeoutMs?: number): Promise<void> {
  $("changes").replaceChildren();
  state.changes = [];
  state.watch = "open";
  state.watchEnd = null;
  $("watch-state").textContent = "실시간 연결됨 · live";
  let opened: () => void = () => {};
  const first = new Promise<void>((resolve) => (opened = resolve));
  (async () => {
    try {
      for await (const reply of client.watchSubmission({ trackingId }, { timeoutMs })) {
        if (reply.change) addChange(reply.change);
        opened();
      }
      state.watchEnd = null;
    } catch (err) {
      state.watchEnd = failure(err);
      showError("watch-error", state.watchEnd);
    } finally {
      state.watch = "ended";
      $("watch-state").textContent = state.watchEnd ? `끊김 · ${state.watchEnd.code}` : "종료 · ended";
      opened();
    }
  })();
  await first;
}

async function getSubmission(trackingId: string, timeoutMs?: number): Promise<Outcome<{ status: string; text: string }>> {
  try {
    const reply = await client.getSubmission({ trackingId }, { timeoutMs });
    const s = reply.submission;
    return { ok: { status: s ? statusName(s.status) : "", text: s?.text ?? "" } };
  } catch (err) {
    return { error: failure(err) };
  }
}

async function alerts(): Promise<Outcome<{ count: number }>> {
  try {
    const reply = await client.listActiveAlerts({});
    const list = $("alerts");
    list.replaceChildren();
    for (const alert of reply.alerts) {
      const item = document.createElement("li");
      item.textContent = `${alert.title} — ${alert.description}`;
      list.append(item);
    }
    if (reply.alerts.length === 0) list.innerHTML = `<li class="none">현재 발령 중인 재난 경보가 없습니다 · no alerts in force</li>`;
    return { ok: { count: reply.alerts.length } };
  } catch (err) {
    return { error: failure(err) };
  }
}

$("protocol").textContent = `${protocol} → ${gateway}`;
$("origin").textContent = location.origin;
$("report-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = ($("text") as HTMLTextAreaElement).value;
  const districtCode = ($("district") as HTMLSelectElement).value;
  const kind = ($("kind") as HTMLSelectElement).value;
  const result = await submit({ text, kind, districtCode });
  if ("ok" in result) await watch(result.ok.trackingId);
});

(window as any).sotong = {
  submit,
  watch,
  getSubmission,
  alerts,
  state,
  setToken: (value: string) => (token = value),
};
void alerts().then(() => (document.body.dataset.ready = "true"));
