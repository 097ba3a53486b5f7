#include "report_page.h"

namespace tessera::detail {

namespace {

// Once everything is drawn the script writes what it drew into #verdict's attributes, an element hidden from
// the reader (tests read it); the live page adds how often it fetched and what it showed last.
constexpr const char* kHead = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>tessera run report</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:20px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 6px}
table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#666;font-size:12px}.chart{border:1px solid #ddd}
#legend span{display:inline-block;margin:2px 10px 2px 0}#legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
#tip{position:fixed;pointer-events:none;background:#333;color:#fff;padding:3px 6px;border-radius:3px;font-size:12px;display:none}
#headline{font-size:15px;font-weight:600;margin:6px 0}#connection{color:#b35900;font-size:12px}
.grid{display:flex;flex-wrap:wrap;gap:24px}
</style></head><body>
<h1 id="title">tessera run report</h1>
<div class="note" id="subtitle"></div>
<div id="headline"></div><div id="connection"></div>
<div id="verdict" data-status="pending" data-drawn="" hidden></div>
<h2>Configuration</h2><table id="config"></table>
<h2>Where time went</h2><div class="note" id="where-note">thread-seconds of the compute threads; transfers run beside compute on each worker's communication thread</div><svg id="where" class="chart" width="900" height="70"></svg>
<h2>Task stream</h2><div class="note" id="stream-note"></div><div id="legend"></div>
<canvas id="stream" class="chart" width="1200" height="100"></canvas>
<div class="grid">
<div><h2>Progress</h2><svg id="progress" class="chart" width="560" height="240"></svg></div>
<div id="groups-box" style="display:none"><h2>Progress per output (% of its tasks done)</h2><svg id="groups" class="chart" width="560" height="240"></svg></div>
<div><h2>Memory per worker (resident MB)</h2><div class="note" id="memory-note"></div><svg id="memory" class="chart" width="560" height="240"></svg></div>
<div><h2>CPU per worker (cores busy)</h2><svg id="cpu" class="chart" width="560" height="240"></svg></div>
<div><h2>Scheduler queue</h2><svg id="queue" class="chart" width="560" height="240"></svg></div>
</div>
<h2>Workers</h2><table id="workers"><thead><tr><th class="n">rank</th><th>node</th><th>binding (NUMA domains, cores)</th><th class="n">threads</th><th class="n">tasks done</th><th class="n">tasks running or queued</th><th class="n">bytes held</th></tr></thead><tbody></tbody></table>
<h2>Bytes transferred between workers</h2><div class="note">row: source rank, column: fetching rank</div><table id="matrix"></table>
<h2>Task kinds</h2><div class="note" id="kinds-note"></div><table id="kinds"><thead><tr><th>kind</th><th class="n">count</th><th class="n">total time</th><th class="n">mean</th><th class="n">max</th><th class="n">result bytes</th><th class="n">share</th></tr></thead><tbody></tbody></table>
<div id="tip"></div>
<script type="application/json" id="data">)HTML";

constexpr const char* kTail = R"HTML(</script>
<script>
(function(){
"use strict";
var verdict=document.getElementById("verdict");
window.addEventListener("error",function(e){verdict.setAttribute("data-drawn","error: "+e.message);verdict.setAttribute("data-status","error");});
var NS="http://www.w3.org/2000/svg";
var PAL=["#4e79a7","#f28e2b","#e15759","#76b7b2","#59a14f","#edc948","#b07aa1","#ff9da7","#9c755f","#bab0ac",
"#1f77b4","#aec7e8","#ffbb78","#98df8a","#c5b0d5","#c49c94","#f7b6d2","#dbdb8d","#9edae5","#17becf"];
function colour(k){return PAL[k%PAL.length];}
function fb(b){var u=["B","kB","MB","GB","TB"],i=0;while(b>=1000&&i<4){b/=1000;i++;}return (i?b.toFixed(1):b.toFixed(0))+" "+u[i];}
function fs(s){if(s>=1)return s.toFixed(2)+" s";if(s>=1e-3)return (s*1e3).toFixed(2)+" ms";return (s*1e6).toFixed(1)+" us";}
function mk(tag,attrs,parent){var e=document.createElementNS(NS,tag);for(var k in attrs)e.setAttribute(k,attrs[k]);if(parent)parent.appendChild(e);return e;}
function td(tr,text,cls){var c=document.createElement("td");c.textContent=text;if(cls)c.className=cls;tr.appendChild(c);return c;}
function clear(el){while(el.firstChild)el.removeChild(el.firstChild);return el;}
function $(id){return document.getElementById(id);}
var D=JSON.parse($("data").textContent);
var LIVE=D===null,polls=0;
var S=null;  // the task stream as drawn last (for the tooltip)
var drawn;
// Everything is drawn from D alone, afresh each time: once for the report, after every fetch when live.
function draw(){
drawn={};
var C=D.config,L=D.live;
if(L){$("title").textContent="tessera run \u00b7 live";
$("subtitle").textContent=(C.started?"started "+C.started+" \u00b7 ":"")+C.executor+" executor \u00b7 run "+L.run+" of this process";
$("headline").textContent=L.done+" / "+L.total+" tasks done ("+(L.total>0?(100*L.done/L.total).toFixed(1):"100")+"%) \u00b7 "+fs(D.seconds)+" elapsed \u00b7 "+(L.finished?"finished":"running");
}else $("subtitle").textContent=(C.started?"started "+C.started+" \u00b7 ":"")+fs(D.seconds)+" \u00b7 "+D.tasks_total+" tasks ("+D.graph_tasks+" before fusion)";
// Configuration
(function(){var t=clear($("config"));
function row(k,v){var tr=document.createElement("tr");td(tr,k);td(tr,v);t.appendChild(tr);}
row("executor",C.executor);row("ranks",String(C.ranks));
var th=0;for(var i=0;i<C.threads.length;i++)th+=C.threads[i];row("compute threads",String(th)+(C.ranks>1?" ("+C.threads.join(", ")+" per rank)":""));
if(C.transfer)row("data plane",C.transfer);
row("Slurm job",C.slurm_job_id||"none (SLURM_JOB_ID not set)");
for(var r=0;r<C.bindings.length;r++)if(C.bindings[r])row("rank "+r+" binding",C.bindings[r]);
row(L?"elapsed":"wall time",fs(D.seconds));row("tasks",L?L.done+" of "+D.tasks_total+" plan tasks done":D.tasks_total+" plan tasks, "+D.graph_tasks+" graph tasks");
if(D.spill.bytes>0||D.spill.read_bytes>0)row("spilled",fb(D.spill.bytes)+" written to spill files"+(L?"":" in "+fs(D.spill.seconds))+", "+fb(D.spill.read_bytes)+" read back"+(L?"":" in "+fs(D.spill.read_seconds))+(D.spill.sampled?" (spill rows show a sample)":""));
else if(L)row("spilled","nothing so far");
if(D.sampled)row("recording","events sampled: "+D.tasks_recorded+" of "+D.tasks_total+" tasks kept (totals below are exact)");
drawn.config=t.rows.length;})();
// Where time went
(function(){var s=clear($("where")),W=D.where;
if(D.where_note)$("where-note").textContent=D.where_note;
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
// Task stream (live: the window of recent tasks, from D.t0 microseconds on)
(function(){var cv=$("stream"),rows=D.rows,T=D.t,X=D.x,t0=D.t0||0;
var H=14,top=4,left=150,axis=24;cv.height=top+Math.max(rows.length,1)*H+axis;cv.width=Math.max(900,Math.min(1600,window.innerWidth-60));
var g=cv.getContext("2d"),W=cv.width-left-10,span=Math.max(D.seconds*1e6-t0,1);
g.fillStyle="#fff";g.fillRect(0,0,cv.width,cv.height);g.font="11px sans-serif";g.fillStyle="#333";
for(var r=0;r<rows.length;r++){g.fillText(rows[r][0],4,top+r*H+11);if(r%2){g.fillStyle="#f6f6f6";g.fillRect(left,top+r*H,W,H);g.fillStyle="#333";}}
var n=T.row.length;
for(var i=0;i<n;i++){g.fillStyle=colour(T.kind[i]);g.fillRect(left+(T.s[i]-t0)/span*W,top+T.row[i]*H+1,Math.max(T.d[i]/span*W,0.5),H-2);}
for(var i=0;i<X.row.length;i++){g.fillStyle=colour(X.src[i]+7);g.fillRect(left+(X.s[i]-t0)/span*W,top+X.row[i]*H+3,Math.max(X.d[i]/span*W,0.5),H-6);}
var P=D.spill;for(var i=0;i<P.row.length;i++){g.fillStyle=P.r[i]?"#59a14f":"#b07aa1";g.fillRect(left+(P.s[i]-t0)/span*W,top+P.row[i]*H+3,Math.max(P.d[i]/span*W,0.5),H-6);}
g.fillStyle="#333";var y=top+Math.max(rows.length,1)*H+14;for(var k=0;k<=10;k++){var x=left+k/10*W;g.fillRect(x,y-12,1,4);var lab=fs((t0+span*k/10)*1e-6);g.fillText(lab,k===10?x-g.measureText(lab).width:x-10,y+6);}
$("stream-note").textContent=(D.stream_note?D.stream_note+"; ":"")+D.shown+" of "+D.tasks_total+" tasks drawn"+(!L&&D.shown<D.tasks_total?" (a uniform sample)":"")+(X.row.length?"; "+X.row.length+" transfers (coloured by source rank)":"")+(P.row.length?"; "+P.row.length+" spill files (purple: written, green: read back)":"");
var lg=clear($("legend"));
for(var k=0;k<D.kinds.length&&k<40;k++){var sp=document.createElement("span");var ic=document.createElement("i");ic.style.background=colour(k);sp.appendChild(ic);sp.appendChild(document.createTextNode(D.kinds[k].kind));lg.appendChild(sp);}
var byRow={};for(var i=0;i<n;i++){(byRow[T.row[i]]=byRow[T.row[i]]||[]).push(i);}
S={T:T,byRow:byRow,span:span,t0:t0,W:W,top:top,H:H,left:left,kinds:D.kinds};
drawn.stream=n+X.row.length;drawn.spills=P.row.length;})();
// Line charts
function lines(id,series,ylabel){var s=clear($(id)),W=+s.getAttribute("width"),H=+s.getAttribute("height");
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
drawn.groups=0;if(D.groups.length){$("groups-box").style.display="";var gs=[];
for(var i=0;i<D.groups.length;i++){var G=D.groups[i],y=[];for(var j=0;j<G.done.length;j++)y.push(G.total>0?100*G.done[j]/G.total:100);
gs.push({name:G.label+" ("+(G.now!==undefined?G.now+"/":"")+G.total+")",x:Q.t.slice(0,y.length),y:y,colour:colour(i)});}lines("groups",gs,"% done");}
var mem=[],cpu=[];
if(D.mem_note)$("memory-note").textContent=D.mem_note;
for(var i=0;i<D.mem.length;i++){var M=D.mem[i],name=C.executor==="mpi"?(M.rank===0?"rank 0 (scheduler)":"rank "+M.rank):"process";
mem.push({name:name,x:M.t,y:M.rss,colour:colour(i)});
var cx=[],cy=[];for(var j=1;j<M.t.length;j++){var dt=M.t[j]-M.t[j-1];if(dt>0){cx.push(M.t[j]);cy.push((M.cpu[j]-M.cpu[j-1])/dt);}}
cpu.push({name:name,x:cx,y:cy,colour:colour(i)});
var lv=0;for(var j=0;j<M.live.length;j++)lv=Math.max(lv,M.live[j]);
if(lv>0)mem.push({name:name+" results held",x:M.t,y:M.live,colour:colour(i+10)});}
lines("memory",mem,"MB");lines("cpu",cpu,"cores");
lines("queue",[{name:"ready",x:Q.t,y:Q.ready,colour:"#f28e2b"},{name:"running",x:Q.t,y:Q.running,colour:"#59a14f"}],"tasks");
// Workers
(function(){var tb=clear(document.querySelector("#workers tbody"));
for(var i=0;i<D.workers.length;i++){var w=D.workers[i],tr=document.createElement("tr");tr.setAttribute("data-rank",w.rank);tr.setAttribute("data-done",w.done);
var b=w.binding||"",m=/^(node of rank [0-9]+)(, worker [0-9]+\/[0-9]+)?: ?(.*)$/.exec(b);
td(tr,String(w.rank),"n");td(tr,(w.node?w.node+(m?" ("+m[1]+")":""):(m?m[1]:(C.executor==="mpi"?"":"this process"))));td(tr,m?m[3]:b);td(tr,String(w.threads),"n");td(tr,String(w.done),"n");
td(tr,w.queued===null?"\u2013":String(w.queued),"n");td(tr,w.held?fb(w.held):"\u2013","n");tb.appendChild(tr);}
drawn.workers=D.workers.length;})();
// Transfer matrix
(function(){var t=clear($("matrix")),R=C.ranks,M=D.matrix,max=0,tot=0;
if(M.length!==R*R){var tr=document.createElement("tr");td(tr,L&&R>1?"shown when the run ends (workers report their transfers then)":"no transfers between workers (one process)");t.appendChild(tr);drawn.matrix=1;return;}
for(var i=0;i<M.length;i++){max=Math.max(max,M[i]);tot+=M[i];}
var h=document.createElement("tr");td(h,"from \\ to");for(var c=1;c<R;c++)td(h,"rank "+c,"n");t.appendChild(h);
for(var r=1;r<R;r++){var tr=document.createElement("tr");td(tr,"rank "+r);for(var c=1;c<R;c++){var v=M[r*R+c];var cell=td(tr,v?fb(v):"\u2013","n");
if(v&&max>0)cell.style.background="rgba(78,121,167,"+(0.1+0.6*v/max).toFixed(2)+")";}t.appendChild(tr);}
var f=document.createElement("tr");td(f,"total "+fb(tot));t.appendChild(f);drawn.matrix=R;})();
// Task kinds
(function(){var tb=clear(document.querySelector("#kinds tbody")),tot=0;for(var i=0;i<D.kinds.length;i++)tot+=D.kinds[i].seconds;
if(D.kinds_note)$("kinds-note").textContent=D.kinds_note;
for(var i=0;i<D.kinds.length;i++){var k=D.kinds[i],tr=document.createElement("tr");tr.setAttribute("data-kind",k.kind);tr.setAttribute("data-count",k.count);
var c=td(tr,k.kind);c.style.borderLeft="6px solid "+colour(i);td(tr,String(k.count),"n");td(tr,fs(k.seconds),"n");td(tr,fs(k.count?k.seconds/k.count:0),"n");td(tr,fs(k.max),"n");td(tr,fb(k.bytes),"n");
td(tr,(tot>0?100*k.seconds/tot:0).toFixed(1)+"%","n");tb.appendChild(tr);}
var sum=0;for(var i=0;i<D.kinds.length;i++)sum+=D.kinds[i].count;
var tr=document.createElement("tr");tr.id="kinds-total";tr.setAttribute("data-count",sum);td(tr,"all");td(tr,String(sum),"n");td(tr,fs(tot),"n");tb.appendChild(tr);
drawn.kinds=D.kinds.length;})();
if(L){verdict.setAttribute("data-status",drawn.progress>0||drawn.stream>0?"ok":"empty");
verdict.setAttribute("data-drawn","stream="+drawn.stream+" progress="+drawn.progress+" memory="+drawn.memory+" cpu="+drawn.cpu+" where="+drawn.where+" kinds="+drawn.kinds+" workers="+drawn.workers+" groups="+drawn.groups);
verdict.setAttribute("data-polls",polls);verdict.setAttribute("data-done",L.done);verdict.setAttribute("data-elapsed",D.seconds);verdict.setAttribute("data-finished",L.finished?"1":"0");}
else if(verdict.getAttribute("data-status")==="pending"){
var ok=drawn.stream>0&&drawn.progress>0&&drawn.memory>0&&drawn.where>0&&drawn.kinds>0;
verdict.setAttribute("data-status",ok?"ok":"empty");
verdict.setAttribute("data-drawn","stream="+drawn.stream+" progress="+drawn.progress+" memory="+drawn.memory+" cpu="+drawn.cpu+" where="+drawn.where+" kinds="+drawn.kinds+" matrix="+drawn.matrix+" groups="+drawn.groups+" spills="+drawn.spills);}
}
// Tooltip: the task under the pointer (rows hold their tasks in time order).
var cv=$("stream"),tip=$("tip");
cv.addEventListener("mousemove",function(ev){if(!S)return;var b=cv.getBoundingClientRect(),r=Math.floor((ev.clientY-b.top-S.top)/S.H),t=S.t0+(ev.clientX-b.left-S.left)/S.W*S.span,T=S.T;
var list=S.byRow[r],hit=-1;if(list){var lo=0,hi=list.length-1;while(lo<=hi){var m=(lo+hi)>>1;if(T.s[list[m]]<=t)lo=m+1;else hi=m-1;}
if(hi>=0&&T.s[list[hi]]+T.d[list[hi]]+S.span/S.W>=t)hit=list[hi];}
if(hit<0){tip.style.display="none";return;}tip.style.display="block";tip.style.left=(ev.clientX+12)+"px";tip.style.top=(ev.clientY+12)+"px";
tip.textContent=S.kinds[T.kind[hit]].kind+" \u00b7 "+fs(T.d[hit]*1e-6)+" at "+fs(T.s[hit]*1e-6);});
cv.addEventListener("mouseleave",function(){tip.style.display="none";});
if(!LIVE){draw();return;}
// Live: the dashboard's data, once a second; the page keeps the last state it drew when the server goes away.
var conn=$("connection");
function poll(){var x=new XMLHttpRequest();x.open("GET","data"+location.search);x.timeout=5000;
x.onload=function(){if(x.status===200){try{D=JSON.parse(x.responseText);}catch(e){D=null;}
if(D&&D.live){polls++;conn.textContent="";draw();}else conn.textContent="no run has started yet";}
else conn.textContent="the dashboard answered "+x.status+(x.status===403?" (the URL needs the token tessera printed)":"");setTimeout(poll,1000);};
x.onerror=x.ontimeout=function(){conn.textContent="the dashboard cannot be reached (the run has ended?); showing its last state";setTimeout(poll,2000);};
x.send();}
poll();
})();
</script></body></html>
)HTML";

}  // namespace

void write_report_page(std::ostream& out, std::string_view data) {
  out << kHead;
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out << kTail;
}

}  // namespace tessera::detail
