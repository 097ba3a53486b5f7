// The HTML performance report: the run's data as one embedded JSON object, drawn by an inline script (canvas
// for the task stream, SVG for the charts). No network access: everything is in the file.
#include <algorithm>
#include <cstdio>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "json_text.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/format.h"
#include "tessera/runtime/trace.h"

namespace tessera {

namespace {

constexpr std::size_t kMaxShownTasks = 150000;  // about 4 MB of embedded data, drawn in well under a second
constexpr std::size_t kMaxShownTransfers = 30000;

template <class T, class F>
void array(std::string& s, const std::vector<T>& v, F value) {
  s += '[';
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    value(s, v[i]);
  }
  s += ']';
}

std::string human_seconds(double s) {
  char buf[32];
  if (s >= 1) {
    std::snprintf(buf, sizeof(buf), "%.2f s", s);
  } else if (s >= 1e-3) {
    std::snprintf(buf, sizeof(buf), "%.2f ms", s * 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f us", s * 1e6);
  }
  return buf;
}

// The report's data. Times in microseconds (integers) since the run started.
std::string report_data(const RunTrace& t) {
  std::string s;
  s.reserve(1 << 20);
  auto num = [&s](double v, int d = 6) { detail::append_number(s, v, d); };
  auto str = [&s](std::string_view v) { detail::append_json_string(s, v); };
  s += "{\"config\":{\"executor\":";
  str(t.executor);
  s += ",\"ranks\":" + std::to_string(t.ranks) + ",\"threads\":";
  array(s, t.threads, [](std::string& o, int v) { o += std::to_string(v); });
  s += ",\"bindings\":";
  array(s, t.bindings, [](std::string& o, const std::string& v) { detail::append_json_string(o, v); });
  s += ",\"transfer\":";
  str(t.transfer);
  s += ",\"slurm_job_id\":";
  str(t.slurm_job_id);
  s += ",\"started\":";
  str(t.started);
  s += "},\"seconds\":";
  num(t.seconds);
  s += ",\"tasks_total\":" + std::to_string(t.tasks_total) +
       ",\"graph_tasks\":" + std::to_string(t.graph_tasks);
  s += ",\"tasks_recorded\":" + std::to_string(t.tasks.size());
  s += ",\"sampled\":";
  s += t.tasks_sampled ? "true" : "false";
  s += ",\"where\":{\"compute\":";
  num(t.compute_seconds);
  s += ",\"transfer\":";
  num(t.transfer_seconds);
  s += ",\"idle\":";
  num(t.idle_seconds);
  s += ",\"overhead\":";
  num(t.overhead_seconds);
  s += ",\"scheduler\":";
  num(t.scheduler_seconds);
  s += "},\"kinds\":";
  array(s, t.kind_summary, [](std::string& o, const KindSummary& k) {
    o += "{\"kind\":";
    detail::append_json_string(o, k.kind);
    o += ",\"count\":" + std::to_string(k.count) + ",\"seconds\":";
    detail::append_number(o, k.seconds, 9);
    o += ",\"max\":";
    detail::append_number(o, k.max_seconds, 9);
    o += ",\"bytes\":" + std::to_string(k.bytes) + "}";
  });

  // Rows of the task stream: every compute thread, then a transfers row for each rank that fetched.
  std::map<std::pair<int, int>, int> row_of;
  std::vector<std::pair<std::string, int>> rows;  // label, rank
  std::vector<bool> fetched(static_cast<std::size_t>(t.ranks), false);
  for (const TransferEvent& x : t.transfers) {
    if (x.rank >= 0 && x.rank < t.ranks) fetched[static_cast<std::size_t>(x.rank)] = true;
  }
  std::vector<bool> spilled(static_cast<std::size_t>(t.ranks), false);
  for (const SpillEvent& x : t.spills) {
    if (x.rank >= 0 && x.rank < t.ranks) spilled[static_cast<std::size_t>(x.rank)] = true;
  }
  const bool mpi = t.executor == "mpi";
  for (int r = 0; r < t.ranks; ++r) {
    const int threads = r < static_cast<int>(t.threads.size()) ? t.threads[static_cast<std::size_t>(r)] : 0;
    for (int th = 0; th < threads; ++th) {
      row_of[{r, th}] = static_cast<int>(rows.size());
      rows.emplace_back(mpi ? "rank " + std::to_string(r) + " thread " + std::to_string(th)
                            : "thread " + std::to_string(th),
                        r);
    }
    if (fetched[static_cast<std::size_t>(r)]) {
      row_of[{r, -1}] = static_cast<int>(rows.size());
      rows.emplace_back("rank " + std::to_string(r) + " transfers in", r);
    }
    if (spilled[static_cast<std::size_t>(r)]) {
      row_of[{r, -2}] = static_cast<int>(rows.size());
      rows.emplace_back(mpi ? "rank " + std::to_string(r) + " spill files" : "spill files", r);
    }
  }
  s += ",\"rows\":";
  array(s, rows, [](std::string& o, const std::pair<std::string, int>& r) {
    o += "[";
    detail::append_json_string(o, r.first);
    o += "," + std::to_string(r.second) + "]";
  });

  const std::size_t stride = std::max<std::size_t>(1, (t.tasks.size() + kMaxShownTasks - 1) / kMaxShownTasks);
  std::string row, kind, start, dur;
  std::size_t shown = 0;
  for (std::size_t i = 0; i < t.tasks.size(); i += stride) {
    const TaskEvent& e = t.tasks[i];
    auto it = row_of.find({e.rank, e.thread});
    if (it == row_of.end()) continue;
    if (shown++) {
      row += ',';
      kind += ',';
      start += ',';
      dur += ',';
    }
    row += std::to_string(it->second);
    kind += std::to_string(e.kind);
    detail::append_number(start, e.start * 1e6, 0);
    detail::append_number(dur, (e.end - e.start) * 1e6, 1);
  }
  s += ",\"shown\":" + std::to_string(shown);
  s += ",\"t\":{\"row\":[" + row + "],\"kind\":[" + kind + "],\"s\":[" + start + "],\"d\":[" + dur + "]}";

  const std::size_t xstride =
      std::max<std::size_t>(1, (t.transfers.size() + kMaxShownTransfers - 1) / kMaxShownTransfers);
  std::string xrow, xsrc, xs, xd, xb;
  std::size_t xshown = 0;
  for (std::size_t i = 0; i < t.transfers.size(); i += xstride) {
    const TransferEvent& x = t.transfers[i];
    auto it = row_of.find({x.rank, -1});
    if (it == row_of.end()) continue;
    if (xshown++) {
      xrow += ',';
      xsrc += ',';
      xs += ',';
      xd += ',';
      xb += ',';
    }
    xrow += std::to_string(it->second);
    xsrc += std::to_string(x.source);
    detail::append_number(xs, x.start * 1e6, 0);
    detail::append_number(xd, (x.end - x.start) * 1e6, 1);
    xb += std::to_string(x.bytes);
  }
  s += ",\"x\":{\"row\":[" + xrow + "],\"src\":[" + xsrc + "],\"s\":[" + xs + "],\"d\":[" + xd + "],\"b\":[" +
       xb + "]}";
  s += ",\"transfers_recorded\":" + std::to_string(t.transfers.size());

  // Spill files written (w) and read back (r): every one, or a uniform sample, as a task-stream row per rank.
  std::string prow, ps, pd, pb, pr;
  std::size_t pshown = 0;
  const std::size_t pstride =
      std::max<std::size_t>(1, (t.spills.size() + kMaxShownTransfers - 1) / kMaxShownTransfers);
  for (std::size_t i = 0; i < t.spills.size(); i += pstride) {
    const SpillEvent& x = t.spills[i];
    auto it = row_of.find({x.rank, -2});
    if (it == row_of.end()) continue;
    if (pshown++) {
      prow += ',';
      ps += ',';
      pd += ',';
      pb += ',';
      pr += ',';
    }
    prow += std::to_string(it->second);
    detail::append_number(ps, x.start * 1e6, 0);
    detail::append_number(pd, (x.end - x.start) * 1e6, 1);
    pb += std::to_string(x.bytes);
    pr += x.read ? '1' : '0';
  }
  s += ",\"spill\":{\"bytes\":" + std::to_string(t.bytes_spilled) +
       ",\"read_bytes\":" + std::to_string(t.bytes_unspilled) + ",\"seconds\":";
  num(t.spill_seconds);
  s += ",\"read_seconds\":";
  num(t.unspill_seconds);
  s += ",\"files\":" + std::to_string(t.spills.size());
  s += ",\"sampled\":";
  s += t.spills_sampled ? "true" : "false";
  s += ",\"row\":[" + prow + "],\"s\":[" + ps + "],\"d\":[" + pd + "],\"b\":[" + pb + "],\"r\":[" + pr + "]}";

  s += ",\"mem\":[";
  for (int r = 0, n = 0; r < t.ranks; ++r) {
    std::string ts, rss, live, cpu;
    std::size_t k = 0;
    for (const ResourceSample& m : t.resources) {
      if (m.rank != r) continue;
      if (k++) {
        ts += ',';
        rss += ',';
        live += ',';
        cpu += ',';
      }
      detail::append_number(ts, m.time, 4);
      detail::append_number(rss, static_cast<double>(m.rss) / 1e6, 2);
      detail::append_number(live, static_cast<double>(m.live_bytes) / 1e6, 2);
      detail::append_number(cpu, m.cpu_seconds, 4);
    }
    if (k == 0) continue;
    if (n++) s += ',';
    s += "{\"rank\":" + std::to_string(r) + ",\"t\":[" + ts + "],\"rss\":[" + rss + "],\"live\":[" + live +
         "],\"cpu\":[" + cpu + "]}";
  }
  s += "],\"sched\":{\"t\":";
  array(s, t.scheduler,
        [](std::string& o, const SchedulerSample& q) { detail::append_number(o, q.time, 4); });
  s += ",\"done\":";
  array(s, t.scheduler, [](std::string& o, const SchedulerSample& q) { o += std::to_string(q.done); });
  s += ",\"ready\":";
  array(s, t.scheduler, [](std::string& o, const SchedulerSample& q) { o += std::to_string(q.ready); });
  s += ",\"running\":";
  array(s, t.scheduler, [](std::string& o, const SchedulerSample& q) { o += std::to_string(q.running); });
  s += "},\"groups\":[";
  for (std::size_t g = 0; g < t.group_labels.size(); ++g) {
    if (g) s += ',';
    s += "{\"label\":";
    str(t.group_labels[g]);
    s += ",\"total\":" + std::to_string(g < t.group_totals.size() ? t.group_totals[g] : 0) + ",\"done\":";
    array(s, t.group_done, [g](std::string& o, const std::vector<std::uint64_t>& d) {
      o += std::to_string(g < d.size() ? d[g] : 0);
    });
    s += "}";
  }
  s += "],\"matrix\":";
  array(s, t.bytes_between, [](std::string& o, std::uint64_t v) { o += std::to_string(v); });
  s += "}";
  return s;
}

// The page. Once everything is drawn the script writes what it drew into #verdict's attributes, an element
// hidden from the reader (tests read it).
constexpr const char* kHead = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>tessera run report</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:20px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 6px}
table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#666;font-size:12px}.chart{border:1px solid #ddd}
#legend span{display:inline-block;margin:2px 10px 2px 0}#legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
#tip{position:fixed;pointer-events:none;background:#333;color:#fff;padding:3px 6px;border-radius:3px;font-size:12px;display:none}
.grid{display:flex;flex-wrap:wrap;gap:24px}
</style></head><body>
<h1>tessera run report</h1>
<div class="note" id="subtitle"></div>
<div id="verdict" data-status="pending" data-drawn="" hidden></div>
<h2>Configuration</h2><table id="config"></table>
<h2>Where time went</h2><div class="note">thread-seconds of the compute threads; transfers run beside compute on each worker's communication thread</div><svg id="where" class="chart" width="900" height="70"></svg>
<h2>Task stream</h2><div class="note" id="stream-note"></div><div id="legend"></div>
<canvas id="stream" class="chart" width="1200" height="100"></canvas>
<div class="grid">
<div><h2>Progress</h2><svg id="progress" class="chart" width="560" height="240"></svg></div>
<div id="groups-box" style="display:none"><h2>Progress per output (% of its tasks done)</h2><svg id="groups" class="chart" width="560" height="240"></svg></div>
<div><h2>Memory per worker (resident MB)</h2><svg id="memory" class="chart" width="560" height="240"></svg></div>
<div><h2>CPU per worker (cores busy)</h2><svg id="cpu" class="chart" width="560" height="240"></svg></div>
<div><h2>Scheduler queue</h2><svg id="queue" class="chart" width="560" height="240"></svg></div>
</div>
<h2>Bytes transferred between workers</h2><div class="note">row: source rank, column: fetching rank</div><table id="matrix"></table>
<h2>Task kinds</h2><table id="kinds"><thead><tr><th>kind</th><th class="n">count</th><th class="n">total time</th><th class="n">mean</th><th class="n">max</th><th class="n">result bytes</th><th class="n">share</th></tr></thead><tbody></tbody></table>
<div id="tip"></div>
<script type="application/json" id="data">)HTML";

constexpr const char* kTail = R"HTML(</script>
<script>
(function(){
"use strict";
var verdict=document.getElementById("verdict");
window.addEventListener("error",function(e){verdict.setAttribute("data-drawn","error: "+e.message);verdict.setAttribute("data-status","error");});
var D=JSON.parse(document.getElementById("data").textContent);
var NS="http://www.w3.org/2000/svg";
var PAL=["#4e79a7","#f28e2b","#e15759","#76b7b2","#59a14f","#edc948","#b07aa1","#ff9da7","#9c755f","#bab0ac",
"#1f77b4","#aec7e8","#ffbb78","#98df8a","#c5b0d5","#c49c94","#f7b6d2","#dbdb8d","#9edae5","#17becf"];
function colour(k){return PAL[k%PAL.length];}
function fb(b){var u=["B","kB","MB","GB","TB"],i=0;while(b>=1000&&i<4){b/=1000;i++;}return (i?b.toFixed(1):b.toFixed(0))+" "+u[i];}
function fs(s){if(s>=1)return s.toFixed(2)+" s";if(s>=1e-3)return (s*1e3).toFixed(2)+" ms";return (s*1e6).toFixed(1)+" us";}
function mk(tag,attrs,parent){var e=document.createElementNS(NS,tag);for(var k in attrs)e.setAttribute(k,attrs[k]);if(parent)parent.appendChild(e);return e;}
function td(tr,text,cls){var c=document.createElement("td");c.textContent=text;if(cls)c.className=cls;tr.appendChild(c);return c;}
var drawn={};
var C=D.config;
document.getElementById("subtitle").textContent=(C.started?"started "+C.started+" \u00b7 ":"")+fs(D.seconds)+" \u00b7 "+D.tasks_total+" tasks ("+D.graph_tasks+" before fusion)";
// Configuration
(function(){var t=document.getElementById("config");
function row(k,v){var tr=document.createElement("tr");td(tr,k);td(tr,v);t.appendChild(tr);}
row("executor",C.executor);row("ranks",String(C.ranks));
var th=0;for(var i=0;i<C.threads.length;i++)th+=C.threads[i];row("compute threads",String(th)+(C.ranks>1?" ("+C.threads.join(", ")+" per rank)":""));
if(C.transfer)row("data plane",C.transfer);
row("Slurm job",C.slurm_job_id||"none (SLURM_JOB_ID not set)");
for(var r=0;r<C.bindings.length;r++)if(C.bindings[r])row("rank "+r+" binding",C.bindings[r]);
row("wall time",fs(D.seconds));row("tasks",D.tasks_total+" plan tasks, "+D.graph_tasks+" graph tasks");
if(D.spill.bytes>0||D.spill.read_bytes>0)row("spilled",fb(D.spill.bytes)+" written to spill files in "+fs(D.spill.seconds)+", "+fb(D.spill.read_bytes)+" read back in "+fs(D.spill.read_seconds)+(D.spill.sampled?" (spill rows show a sample)":""));
if(D.sampled)row("recording","events sampled: "+D.tasks_recorded+" of "+D.tasks_total+" tasks kept (totals below are exact)");
drawn.config=t.rows.length;})();
// Where time went
(function(){var s=document.getElementById("where"),W=D.where;
var parts=[["compute",W.compute,"#4e79a7"],["idle",W.idle,"#bab0ac"],["scheduling and bookkeeping",W.overhead,"#edc948"]];
var tot=0;for(var i=0;i<parts.length;i++)tot+=parts[i][1];
var x=10,w=880,n=0;
for(var i=0;i<parts.length;i++){var p=parts[i];if(!(p[1]>0))continue;var pw=tot>0?p[1]/tot*w:0;
var r=mk("rect",{x:x,y:8,width:Math.max(pw,1),height:26,fill:p[2]},s);mk("title",{},r).textContent=p[0]+": "+fs(p[1]);x+=pw;n++;}
var lx=10;var extra=[["transfers (beside compute)",W.transfer,"#e15759"],["scheduler (rank 0)",W.scheduler,"#59a14f"]];
var all=parts.concat(extra);
for(var i=0;i<all.length;i++){var p=all[i];if(i>=parts.length&&!(p[1]>0))continue;
mk("rect",{x:lx,y:46,width:10,height:10,fill:p[2]},s);var tx=mk("text",{x:lx+14,y:55,"font-size":12},s);
tx.textContent=p[0]+" "+fs(p[1])+(i<parts.length&&tot>0?" ("+(100*p[1]/tot).toFixed(1)+"%)":"");lx+=tx.getComputedTextLength()+34;}
drawn.where=n;})();
// Task stream
(function(){var cv=document.getElementById("stream"),rows=D.rows,T=D.t,X=D.x;
var H=14,top=4,left=150,axis=24;cv.height=top+rows.length*H+axis;cv.width=Math.max(900,Math.min(1600,window.innerWidth-60));
var g=cv.getContext("2d"),W=cv.width-left-10,span=Math.max(D.seconds*1e6,1);
g.fillStyle="#fff";g.fillRect(0,0,cv.width,cv.height);g.font="11px sans-serif";g.fillStyle="#333";
for(var r=0;r<rows.length;r++){g.fillText(rows[r][0],4,top+r*H+11);if(r%2){g.fillStyle="#f6f6f6";g.fillRect(left,top+r*H,W,H);g.fillStyle="#333";}}
var n=T.row.length;
for(var i=0;i<n;i++){g.fillStyle=colour(T.kind[i]);g.fillRect(left+T.s[i]/span*W,top+T.row[i]*H+1,Math.max(T.d[i]/span*W,0.5),H-2);}
for(var i=0;i<X.row.length;i++){g.fillStyle=colour(X.src[i]+7);g.fillRect(left+X.s[i]/span*W,top+X.row[i]*H+3,Math.max(X.d[i]/span*W,0.5),H-6);}
var P=D.spill;for(var i=0;i<P.row.length;i++){g.fillStyle=P.r[i]?"#59a14f":"#b07aa1";g.fillRect(left+P.s[i]/span*W,top+P.row[i]*H+3,Math.max(P.d[i]/span*W,0.5),H-6);}
g.fillStyle="#333";var y=top+rows.length*H+14;for(var k=0;k<=10;k++){var x=left+k/10*W;g.fillRect(x,y-12,1,4);var lab=fs(span*1e-6*k/10);g.fillText(lab,k===10?x-g.measureText(lab).width:x-10,y+6);}
document.getElementById("stream-note").textContent=D.shown+" of "+D.tasks_total+" tasks drawn"+(D.shown<D.tasks_total?" (a uniform sample)":"")+(X.row.length?"; "+X.row.length+" transfers (coloured by source rank)":"")+(P.row.length?"; "+P.row.length+" spill files (purple: written, green: read back)":"");
var lg=document.getElementById("legend");
for(var k=0;k<D.kinds.length&&k<40;k++){var sp=document.createElement("span");var ic=document.createElement("i");ic.style.background=colour(k);sp.appendChild(ic);sp.appendChild(document.createTextNode(D.kinds[k].kind));lg.appendChild(sp);}
// Tooltip: the task under the pointer (rows hold their tasks in time order).
var byRow={};for(var i=0;i<n;i++){(byRow[T.row[i]]=byRow[T.row[i]]||[]).push(i);}
var tip=document.getElementById("tip");
cv.addEventListener("mousemove",function(ev){var b=cv.getBoundingClientRect(),r=Math.floor((ev.clientY-b.top-top)/H),t=(ev.clientX-b.left-left)/W*span;
var list=byRow[r],hit=-1;if(list){var lo=0,hi=list.length-1;while(lo<=hi){var m=(lo+hi)>>1;if(T.s[list[m]]<=t)lo=m+1;else hi=m-1;}
if(hi>=0&&T.s[list[hi]]+T.d[list[hi]]+span/W>=t)hit=list[hi];}
if(hit<0){tip.style.display="none";return;}tip.style.display="block";tip.style.left=(ev.clientX+12)+"px";tip.style.top=(ev.clientY+12)+"px";
tip.textContent=D.kinds[T.kind[hit]].kind+" \u00b7 "+fs(T.d[hit]*1e-6)+" at "+fs(T.s[hit]*1e-6);});
cv.addEventListener("mouseleave",function(){tip.style.display="none";});
drawn.stream=n+X.row.length;drawn.spills=P.row.length;})();
// Line charts
function lines(id,series,ylabel){var s=document.getElementById(id),W=+s.getAttribute("width"),H=+s.getAttribute("height");
var l=52,r=10,t=10,b=30,xmax=Math.max(D.seconds,1e-9),ymax=0,count=0;
for(var i=0;i<series.length;i++)for(var j=0;j<series[i].y.length;j++)ymax=Math.max(ymax,series[i].y[j]);if(!(ymax>0))ymax=1;
mk("line",{x1:l,y1:H-b,x2:W-r,y2:H-b,stroke:"#999"},s);mk("line",{x1:l,y1:t,x2:l,y2:H-b,stroke:"#999"},s);
for(var k=0;k<=4;k++){var yv=ymax*k/4,yy=H-b-(H-b-t)*k/4;var tx=mk("text",{x:l-4,y:yy+4,"font-size":10,"text-anchor":"end"},s);tx.textContent=yv>=100?yv.toFixed(0):yv.toPrecision(2);
var xx=l+(W-l-r)*k/4;var tt=mk("text",{x:xx,y:H-b+14,"font-size":10,"text-anchor":"middle"},s);tt.textContent=fs(xmax*k/4);}
var yl=mk("text",{x:l,y:H-4,"font-size":10},s);yl.textContent=ylabel;
for(var i=0;i<series.length;i++){var S=series[i],d="";for(var j=0;j<S.x.length;j++){d+=(j?"L":"M")+(l+(W-l-r)*S.x[j]/xmax).toFixed(1)+","+(H-b-(H-b-t)*S.y[j]/ymax).toFixed(1);}
if(!d)continue;var p=mk("path",{d:d,fill:"none",stroke:S.colour,"stroke-width":1.5},s);mk("title",{},p).textContent=S.name;count++;
var lt=mk("text",{x:W-r-4,y:t+12+12*i,"font-size":10,"text-anchor":"end",fill:S.colour},s);lt.textContent=S.name;}
drawn[id]=count;return count;}
var Q=D.sched;
lines("progress",[{name:"tasks done",x:Q.t,y:Q.done,colour:"#4e79a7"}],"tasks done of "+D.tasks_total);
drawn.groups=0;if(D.groups.length){document.getElementById("groups-box").style.display="";var gs=[];
for(var i=0;i<D.groups.length;i++){var G=D.groups[i],y=[];for(var j=0;j<G.done.length;j++)y.push(G.total>0?100*G.done[j]/G.total:100);
gs.push({name:G.label+" ("+G.total+")",x:Q.t.slice(0,y.length),y:y,colour:colour(i)});}lines("groups",gs,"% done");}
var mem=[],cpu=[];
for(var i=0;i<D.mem.length;i++){var M=D.mem[i],name=C.executor==="mpi"?(M.rank===0?"rank 0 (scheduler)":"rank "+M.rank):"process";
mem.push({name:name,x:M.t,y:M.rss,colour:colour(i)});
var cx=[],cy=[];for(var j=1;j<M.t.length;j++){var dt=M.t[j]-M.t[j-1];if(dt>0){cx.push(M.t[j]);cy.push((M.cpu[j]-M.cpu[j-1])/dt);}}
cpu.push({name:name,x:cx,y:cy,colour:colour(i)});
var lv=0;for(var j=0;j<M.live.length;j++)lv=Math.max(lv,M.live[j]);
if(lv>0)mem.push({name:name+" results held",x:M.t,y:M.live,colour:colour(i+10)});}
lines("memory",mem,"MB");lines("cpu",cpu,"cores");
lines("queue",[{name:"ready",x:Q.t,y:Q.ready,colour:"#f28e2b"},{name:"running",x:Q.t,y:Q.running,colour:"#59a14f"}],"tasks");
// Transfer matrix
(function(){var t=document.getElementById("matrix"),R=C.ranks,M=D.matrix,max=0,tot=0;
if(M.length!==R*R){var tr=document.createElement("tr");td(tr,"no transfers between workers (one process)");t.appendChild(tr);drawn.matrix=1;return;}
for(var i=0;i<M.length;i++){max=Math.max(max,M[i]);tot+=M[i];}
var h=document.createElement("tr");td(h,"from \\ to");for(var c=1;c<R;c++)td(h,"rank "+c,"n");t.appendChild(h);
for(var r=1;r<R;r++){var tr=document.createElement("tr");td(tr,"rank "+r);for(var c=1;c<R;c++){var v=M[r*R+c];var cell=td(tr,v?fb(v):"\u2013","n");
if(v&&max>0)cell.style.background="rgba(78,121,167,"+(0.1+0.6*v/max).toFixed(2)+")";}t.appendChild(tr);}
var f=document.createElement("tr");td(f,"total "+fb(tot));t.appendChild(f);drawn.matrix=R;})();
// Task kinds
(function(){var tb=document.querySelector("#kinds tbody"),tot=0;for(var i=0;i<D.kinds.length;i++)tot+=D.kinds[i].seconds;
for(var i=0;i<D.kinds.length;i++){var k=D.kinds[i],tr=document.createElement("tr");tr.setAttribute("data-kind",k.kind);tr.setAttribute("data-count",k.count);
var c=td(tr,k.kind);c.style.borderLeft="6px solid "+colour(i);td(tr,String(k.count),"n");td(tr,fs(k.seconds),"n");td(tr,fs(k.count?k.seconds/k.count:0),"n");td(tr,fs(k.max),"n");td(tr,fb(k.bytes),"n");
td(tr,(tot>0?100*k.seconds/tot:0).toFixed(1)+"%","n");tb.appendChild(tr);}
var sum=0;for(var i=0;i<D.kinds.length;i++)sum+=D.kinds[i].count;
var tr=document.createElement("tr");tr.id="kinds-total";tr.setAttribute("data-count",sum);td(tr,"all");td(tr,String(sum),"n");td(tr,fs(tot),"n");tb.appendChild(tr);
drawn.kinds=D.kinds.length;})();
if(verdict.getAttribute("data-status")==="pending"){
var ok=drawn.stream>0&&drawn.progress>0&&drawn.memory>0&&drawn.where>0&&drawn.kinds>0;
verdict.setAttribute("data-status",ok?"ok":"empty");
verdict.setAttribute("data-drawn","stream="+drawn.stream+" progress="+drawn.progress+" memory="+drawn.memory+" cpu="+drawn.cpu+" where="+drawn.where+" kinds="+drawn.kinds+" matrix="+drawn.matrix+" groups="+drawn.groups+" spills="+drawn.spills);}
})();
</script></body></html>
)HTML";

}  // namespace

void write_html_report(const RunTrace& trace, std::ostream& out) {
  out << kHead;
  const std::string data = report_data(trace);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out << kTail;
  if (!out) throw Error(ErrorCode::kIo, "writing the report failed");
}

void write_html_report(const RunTrace& trace, const std::string& path) {
  detail::write_file_atomically(path, "report", [&](std::ostream& out) { write_html_report(trace, out); });
}

std::string summarize(const RunTrace& t, std::size_t top_kinds) {
  std::string s;
  char buf[256];
  double thread_seconds = 0;
  for (int n : t.threads) thread_seconds += n * t.seconds;
  auto pct = [&](double v) { return thread_seconds > 0 ? 100.0 * v / thread_seconds : 0.0; };
  std::snprintf(buf, sizeof(buf),
                "%llu tasks in %s: compute %.0f%%, idle %.0f%%, scheduling %.0f%% of %s thread time\n",
                static_cast<unsigned long long>(t.tasks_total), human_seconds(t.seconds).c_str(),
                pct(t.compute_seconds), pct(t.idle_seconds), pct(t.overhead_seconds),
                human_seconds(thread_seconds).c_str());
  s += buf;
  std::size_t shown = 0;
  for (const KindSummary& k : t.kind_summary) {
    if (shown++ >= top_kinds) break;
    std::snprintf(buf, sizeof(buf), "  %-24s %8llu tasks  %10s total  %10s mean  %10s out\n", k.kind.c_str(),
                  static_cast<unsigned long long>(k.count), human_seconds(k.seconds).c_str(),
                  human_seconds(k.count ? k.seconds / static_cast<double>(k.count) : 0).c_str(),
                  format_bytes(static_cast<double>(k.bytes)).c_str());
    s += buf;
  }
  if (t.kind_summary.size() > top_kinds) {
    s += "  ... " + std::to_string(t.kind_summary.size() - top_kinds) + " more kinds\n";
  }
  if (t.bytes_spilled > 0 || t.bytes_unspilled > 0) {
    std::snprintf(buf, sizeof(buf), "  spilled: %s written in %s, %s read back in %s\n",
                  format_bytes(static_cast<double>(t.bytes_spilled)).c_str(),
                  human_seconds(t.spill_seconds).c_str(),
                  format_bytes(static_cast<double>(t.bytes_unspilled)).c_str(),
                  human_seconds(t.unspill_seconds).c_str());
    s += buf;
  }
  std::uint64_t moved = 0;
  for (std::uint64_t b : t.bytes_between) moved += b;
  if (t.executor == "mpi") {
    std::snprintf(buf, sizeof(buf), "  transfers: %s between workers (%s), %s fetching\n",
                  format_bytes(static_cast<double>(moved)).c_str(), t.transfer.c_str(),
                  human_seconds(t.transfer_seconds).c_str());
    s += buf;
  }
  return s;
}

}  // namespace tessera
