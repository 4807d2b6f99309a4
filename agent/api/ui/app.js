// The clerk page: drives the agent through its local API (cookie login)
// and follows its event stream. No framework, no build step.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);

  // el builds an element; strings become text nodes (never HTML).
  function el(tag, cls, ...kids) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }

  // MSG is the one catalogue of what the page says: every machine reason
  // of the API (scan reasons, error codes, alarm kinds) in Chinese. The
  // API's English message goes to the console (and the agent's log), never
  // on screen; an unknown reason shows its code.
  const MSG = {
    // Scans (device.Feedback reasons, queue refusals, tracecode).
    no_session: '没有打开的单据：先点“开始销售”或“开始收货”',
    check_failed: '验码未通过：请将异常的盒移出本单或登记无码原因后再结算',
    product_barcode: '这是商品条码（69码），不是追溯码',
    already_sold: '该码已售出', already_received: '该码已入库',
    not_sold: '该盒不在已售状态（在库、已退货或已出库），不能退货',
    not_sold_here: '本机没有该盒的销售记录：退货须注明原销售单', not_on_original: '该盒不在所注明的原销售单上',
    not_on_sale: '该药品不在本次销售清单上：请放回', line_complete: '该行已扫够：这一盒多了',
    codes_missing: '无码不结算：还有药品未扫码，请补扫或登记无码原因',
    left_store: '该码已出库', opened_pack: '该盒已拆零', not_splittable: '该商品不能拆零',
    not_enough_units: '剩余数量不足', parent_child: '箱码和它的盒码不能在同一单据', wrong_lot: '批号与供应商单据不符',
    session_busy: '本会话已有别的单据', empty_bill: '单据还没有追溯码，可以取消', bad_command: '命令无效',
    double_read: '同一个码读了两次，已忽略', duplicate: '重复：该码已在本单',
    queue_full: '存储已满，本次未记录！请清理磁盘', stopping: '程序正在停止，请稍后重扫', internal: '内部错误，未记录',
    bad_length: '位数不对（追溯码为20位）', not_msfx: '不是码上放心追溯码', non_ascii: '含全角或中文字符：请切换英文输入法',
    empty: '空码', too_long: '码太长', control_char: '含不可见字符', bad_encoding: '编码错误：请检查扫码枪设置',
    unrecognised: '无法识别的码', kind_not_allowed: '本店不收这种码', ambiguous_separator: 'GS1 分隔符丢失，无法确定',
    bad_gtin_check: 'GTIN 校验位错误', bad_syntax: '码的格式错误', unknown_ai: 'GS1 码含未知的应用标识符',
    duplicate_ai: 'GS1 码的应用标识符重复', bad_ai_value: 'GS1 码的字段值错误', bad_date: 'GS1 码的日期错误',
    missing_gtin: 'GS1 码缺少 GTIN', missing_serial: 'GS1 码缺少序列号', decode_error: '扫码枪数据无法解码', bad_units: '拆零数量错误',
    // API errors (respond.go).
    bad_request: '请求有误', unauthorized: '未登录或未配对', forbidden: '拒绝访问', not_found: '没有找到',
    too_large: '内容太大', refused: '有码被拒绝', offline: '码上放心未启用或连不上',
    supervisor_required: '重点品种：需店长输入授权码', supervisor_pin_wrong: '店长授权码错误',
    supervisor_not_configured: '本店未设置店长授权码，重点品种不能登记无码', too_many_attempts: '授权码错误次数过多，请一分钟后再试',
    not_held: '该单没有被暂扣', partly_sent: '该单已部分上传，不能再改', bill_cancelled: '该单已取消',
    attempt_in_flight: '该单正在上传，请稍后再试', already_sent: '该单已上传，不能再改', lan_off: '未启用手持终端（api.lan）',
    not_in_session: '该码不在本单', finished: '单据已完成，不能再改',
    nothing_to_book: '没有要登记的盘亏：都已找到，或已经登记过', running: '对账正在进行，请稍候',
    not_done: '该单还没有上传完成，暂不能重发', personal_erased: '该单的个人信息已删除，不能重发',
    // Reconciliation findings (GET /v1/reconcile open[].kind).
    finding_missing_on_platform: '平台缺失', finding_codes_differ: '追溯码不一致', finding_unknown_here: '本机未知',
    // Reasons of stock changes (attr stock.reason): what the clerk picks.
    reason_expired: '过期销毁', reason_quality: '质量问题销毁', reason_recall: '召回销毁', reason_broken: '破损',
    reason_damp: '受潮污染', reason_not_found: '盘点未找到', reason_lost: '丢失', reason_found: '盘点多出',
    reason_transfer: '门店间调拨', reason_other: '其他（须填写说明）',
    // Alarms (status alarms[].kind).
    alarm_queue_full: '存储已满：扫码已停止，请清理磁盘', alarm_quarantine: '队列文件损坏，已隔离并新建：请联系技术支持',
    alarm_check: '验码异常：有已售出或注销的码', alarm_clock: '本机时钟与平台时间相差过大：请校准时间',
    alarm_config: '总部配置已更新',
    // 验码 problems (checks.online).
    problem_sold: '已核销·疑似回流药', problem_cancelled: '已注销', problem_not_found: '码不存在',
    problem_expired: '已过期', problem_other_product: '非本单品种',
  };
  // zh is the Chinese text of a reason (with an optional catalogue prefix).
  const zh = (code, prefix) => MSG[(prefix || '') + code] || (code ? '出错（代码 ' + code + '）' : '出错');
  const VERDICT = { accepted: '已接收', duplicate: '重复', rejected: '拒绝', command: '命令', error: '未记录', check: '验码异常' };
  const TYPES = { 102: '采购入库', 104: '调拨入库', 111: '盘盈入库', 112: '报废入库', 113: '其他入库', 116: '消费者退货入库',
    201: '销售出库', 202: '退货出库', 203: '调拨出库', 205: '销毁出库', 214: '盘亏出库', 215: '损坏出库', 216: '报废出库',
    217: '其他出库', 321: '使用出库', 901: '盘点' };
  // The reasons offered per kind of stock change (keys of MSG reason_…).
  const REASONS = { destroy: ['expired', 'quality', 'recall', 'other'], damage: ['broken', 'damp', 'other'],
    stock_loss: ['not_found', 'lost', 'other'], stock_gain: ['found', 'other'], transfer_out: ['transfer', 'other'] };
  const DESTS = { msfx: '码上放心', nhsa: '医保', webhook: 'Webhook' };
  // The store's time zone: pharmacies under 码上放心 and 医保 keep China time.
  const ZONE = 'Asia/Shanghai';

  const state = { session: localStorage.getItem('pda.session') || 'counter', live: false, upstream: [], timers: {},
    partners: {}, device: null, view: null };
  const prefs = { sound: localStorage.getItem('pda.sound') !== 'off', vibrate: localStorage.getItem('pda.vibrate') !== 'off' };

  // api calls the local API. An error carries the answer (data) and the
  // Chinese text of its reason (message); the English message is logged.
  async function api(method, path, body) {
    const opt = { method, credentials: 'same-origin', headers: {} };
    if (body !== undefined) {
      opt.headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    const r = await fetch(path, opt);
    $('login').hidden = r.status !== 401;
    if (r.status === 204) return null;
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      if (data.message) console.warn(method, path, r.status, data.error, data.message);
      const err = new Error(zh(data.error || (r.status === 404 ? 'not_found' : '')));
      err.data = data;
      err.status = r.status;
      throw err;
    }
    return data;
  }

  const sessionPath = () => '/v1/sessions/' + encodeURIComponent(state.session);
  const clock = (t) => (t ? new Date(t) : new Date()).toLocaleTimeString('zh-CN', { hour12: false, timeZone: ZONE });
  const dateTime = (t) => new Date(t).toLocaleString('zh-CN', { hour12: false, timeZone: ZONE });

  // duration turns Go's "1h2m5.5s" into 1小时2分5秒.
  function duration(d) {
    if (!d) return '';
    const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:([\d.]+)s)?$/.exec(d) || [];
    const h = +(m[1] || 0), mi = +(m[2] || 0), sec = Math.floor(+(m[3] || 0));
    if (!m[0]) return d;
    return (h ? h + '小时' : '') + (mi ? mi + '分' : '') + (sec || (!h && !mi) ? sec + '秒' : '');
  }

  // partnerName names a supplier by its ent_id from the agent's partner
  // list; an unlisted one shows as such, never as 32 hex digits alone.
  const partnerName = (id) => (id ? state.partners[id] || '未登记的往来单位' : '');

  // Sound and vibration per verdict, switchable (remembered).
  let audio = null;
  function beep(tones) {
    if (!prefs.sound) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === 'suspended') audio.resume();
      let t = audio.currentTime;
      for (const [freq, ms] of tones) {
        const o = audio.createOscillator(), g = audio.createGain();
        o.frequency.value = freq;
        o.type = 'square';
        g.gain.setValueAtTime(0.15, t);
        g.gain.setValueAtTime(0, t + ms / 1000);
        o.connect(g).connect(audio.destination);
        o.start(t);
        o.stop(t + ms / 1000);
        t += ms / 1000 + 0.06;
      }
    } catch (e) { /* no audio on this browser */ }
  }
  const SIGNALS = {
    accepted: { tones: [[1760, 90]], buzz: [60] },
    duplicate: { tones: [[880, 90], [880, 90]], buzz: [80, 60, 80] },
    rejected: { tones: [[220, 450]], buzz: [400, 100, 400] },
    error: { tones: [[220, 450], [180, 450]], buzz: [600, 100, 600] },
    check: { tones: [[220, 450]], buzz: [400, 100, 400] },
  };
  function signal(status) {
    const sg = SIGNALS[status];
    if (!sg) return;
    beep(sg.tones);
    if (prefs.vibrate && navigator.vibrate) navigator.vibrate(sg.buzz);
  }
  for (const [key, id] of [['sound', 'pref-sound'], ['vibrate', 'pref-vibrate']]) {
    $(id).checked = prefs[key];
    $(id).onchange = () => {
      prefs[key] = $(id).checked;
      localStorage.setItem('pda.' + key, prefs[key] ? 'on' : 'off');
      if (prefs[key] && key === 'sound') beep([[1760, 60]]);
      $('scan').focus();
    };
  }

  // show puts a verdict in the big feedback box.
  function show(status, title, code, message) {
    $('feedback').className = 'feedback st-' + status;
    $('fb-verdict').textContent = title;
    $('fb-code').textContent = code || '';
    $('fb-message').textContent = message || '';
  }

  // showScan renders a scan result (from the API answer or an event) and
  // signals it, unless quiet: a scan this page sent is signalled from its
  // answer, not again from its event.
  function showScan(s, quiet) {
    if (s.status !== 'accepted' && s.status !== 'command' && s.message) console.info('scan', s.code, s.reason, s.message);
    const text = s.status === 'rejected' || s.status === 'error' ? zh(s.reason) : s.status === 'duplicate' ? MSG.duplicate : '';
    show(s.status, VERDICT[s.status] || s.status, s.code, text);
    if (!quiet) signal(s.status);
  }
  // ownSource is the source the agent records this page's scans under.
  const ownSource = () => (state.device ? 'pda:' + state.device.id : 'page');

  function logScan(s) {
    const sub = s.status === 'accepted' || s.status === 'command' ? null
      : el('span', 'sub', s.status === 'check' ? s.text : s.status === 'duplicate' ? MSG.duplicate : zh(s.reason));
    const li = el('li', 'st-' + s.status, el('span', 'when', clock(s.at)), el('span', 'what', VERDICT[s.status] || s.status), s.code || '', sub);
    const log = $('log');
    log.prepend(li);
    while (log.children.length > 30) log.lastChild.remove();
  }

  function later(name, ms, fn) {
    clearTimeout(state.timers[name]);
    state.timers[name] = setTimeout(fn, ms);
  }

  async function refreshSession() {
    try {
      renderSession(await api('GET', sessionPath()));
    } catch (e) {
      if (e.status === 404) renderSession({ items: [] });
      else $('bill').textContent = e.message;
    }
  }

  function itemLine(it) {
    const sub = [it.line && '第 ' + it.line + ' 行', it.lot && '批号 ' + it.lot, it.expiry && '有效期至 ' + it.expiry, it.units && '拆零 ' + it.units].filter(Boolean).join(' · ');
    return el('li', '', it.code, sub ? el('span', 'sub', sub) : null);
  }

  // removable adds 移除 to a pack of an open sale: the pack goes back to
  // the shelf (DELETE /v1/sessions/{session}/items/{code}).
  function removable(li, it) {
    const b = el('button', 'remove', '移除');
    b.type = 'button';
    b.onclick = () => act(async () => {
      const v = await api('DELETE', sessionPath() + '/items/' + encodeURIComponent(it.code));
      if (v && v.session !== undefined) renderSession(v);
      return '已移除 ' + it.code;
    });
    li.append(b);
    return li;
  }

  function renderSession(v) {
    state.view = v;
    const b = v.bill;
    $('bill').textContent = b
      ? `${b.bill_code} · ${TYPES[b.bill_type] || b.bill_type}${b.partner ? ' · ' + partnerName(b.partner) : ''} · ${b.items} 码`
      : '无打开的单据';
    const sale = b && b.bill_type === 321;
    $('count').textContent = b ? `（${v.items.length}）` : '';
    $('items').replaceChildren(...v.items.slice(-100).reverse().map((it) => {
      const li = withCheck(itemLine(it), v.checks, it.code);
      return sale ? removable(li, it) : li;
    }));
    renderExpected(v.expected);
    renderLines(v);
    renderStock(v);
  }

  // The cashier view (收银): a sale opened by the POS with its lines shows
  // per line what is needed, collected and still short, the packs that
  // went to it with their 验码 verdicts, and a 无码登记 button.
  const EXC_REASON = { no_code_stock: '无码库存', unreadable: '码无法识读', split_open_pack: '拆零已开盒', other: '其他' };
  const lineName = (l) => `第 ${l.line} 行 ${l.name || l.product}`;
  const unit = (l) => (l.units ? '拆零单位' : '盒');

  function renderLines(v) {
    const lines = v.lines || [];
    state.lines = lines;
    $('cashier').hidden = lines.length === 0;
    if (!lines.length) return;
    const short = lines.reduce((n, l) => n + l.short, 0);
    $('lines-sum').textContent = short ? `（还缺 ${short}）` : '（已齐）';
    $('lines').replaceChildren(...lines.map((l) => {
      const packs = v.items.filter((it) => it.line === l.line);
      const exc = ((v.bill && v.bill.exceptions) || []).filter((x) => x.line === l.line);
      const li = el('li', l.short ? 'short' : 'done',
        el('div', 'lhead', el('b', '', lineName(l)), l.key_variety ? el('span', 'tag bad', '重点品种') : null,
          l.units ? el('span', 'tag', '拆零') : null),
        el('div', 'counts', `应 ${l.needed} ${unit(l)} · 已扫 ${l.collected}`, l.excepted ? ` · 无码 ${l.excepted}` : '',
          ' · ', el('span', l.short ? 'must' : 'full', l.short ? `缺 ${l.short}` : '已齐')),
        packs.length ? el('ul', 'items', ...packs.map((it) => removable(withCheck(el('li', '', el('span', 'code', it.code),
          it.units ? el('span', 'sub', '拆零 ' + it.units) : null), v.checks, it.code), it))) : null,
        exc.length ? el('ul', 'items', ...exc.map((x) => el('li', '', `无码 ${x.packs}：${EXC_REASON[x.reason] || x.reason}`,
          el('span', 'sub', [x.note, x.supervisor && '店长已授权'].filter(Boolean).join(' · '))))) : null);
      li.dataset.line = l.line;
      if (l.short) {
        const b = el('button', 'exc-open', '无码登记');
        b.type = 'button';
        b.onclick = () => openException(l);
        li.append(b);
      }
      return li;
    }));
  }

  // openException asks why packs of a short line have no code; a key
  // variety needs the supervisor's PIN, checked by the agent.
  function openException(l) {
    state.excLine = l;
    $('exc-line').textContent = lineName(l);
    $('exc-short').textContent = `应 ${l.needed} ${unit(l)}，已扫 ${l.collected}，已登记无码 ${l.excepted || 0}，缺 ${l.short}`;
    $('exc-packs-label').textContent = `数量（${unit(l)}）`;
    $('exc-packs').value = String(l.short);
    $('exc-packs').max = String(l.short);
    $('exc-note').value = '';
    $('exc-pin').value = '';
    $('exc-pin-row').hidden = !l.key_variety;
    $('exc-error').textContent = '';
    $('exc-dialog').showModal();
  }
  $('exc-cancel').onclick = () => { $('exc-dialog').close(); $('scan').focus(); };
  $('exc-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const l = state.excLine;
    const reason = $('exc-reason').value;
    const note = $('exc-note').value.trim();
    const packs = parseInt($('exc-packs').value, 10);
    const err = $('exc-error');
    if (!(packs >= 1 && packs <= l.short)) { err.textContent = `数量须在 1 到 ${l.short} 之间`; return; }
    if (reason === 'other' && !note) { err.textContent = '选“其他”时须填写备注'; return; }
    if (l.key_variety && !$('exc-pin').value) { err.textContent = MSG.supervisor_required; return; }
    $('exc-ok').disabled = true;
    try {
      const v = await api('POST', sessionPath() + '/exceptions', { line: l.line, packs, reason, note: note || undefined,
        supervisor_pin: l.key_variety ? $('exc-pin').value : undefined });
      $('exc-dialog').close();
      show('command', `已登记无码：${lineName(l)} ${packs} ${unit(l)}`, '', EXC_REASON[reason]);
      renderSession(v);
      $('scan').focus();
    } catch (e) {
      const d = e.data || {};
      err.textContent = d.error === 'bad_request' ? '登记未通过：请检查数量和原因' : e.message;
      $('exc-pin').value = '';
    } finally {
      $('exc-ok').disabled = false;
    }
  };

  // problems is a pack's 验码 verdict in Chinese.
  const problems = (list) => '验码异常：' + ((list || []).map((x) => zh(x, 'problem_')).join('；') || '请查看码上放心');

  // finishRefused explains a refused finish in Chinese: the short lines of
  // codes_missing, the packs of check_failed.
  function finishRefused(d) {
    if (d.error === 'codes_missing') {
      const byLine = Object.fromEntries((state.lines || []).map((l) => [l.line, l]));
      show('rejected', '无码不结算：还不能完成', '', (d.lines || []).map((s) => {
        const l = byLine[s.line] || { line: s.line };
        const lack = s.needed - s.collected - (s.excepted || 0);
        return `${lineName(l)}：应 ${s.needed} ${unit(l)}，已扫 ${s.collected}` + (s.excepted ? `，无码 ${s.excepted}` : '') + `，缺 ${lack}`;
      }).join('\n') + '\n请补扫，或点该行的“无码登记”');
      signal('rejected');
      return true;
    }
    if (d.error === 'check_failed') {
      show('rejected', '验码未通过：还不能完成', '', (d.packs || []).map((p) => `${p.code}：${problems(p.problems)}`)
        .join('\n') + '\n请将这些盒移出本单（退回货架）或登记无码原因后再结算');
      signal('rejected');
      return true;
    }
    return false;
  }

  // showReceipt previews the finished sale's 追溯码 block as the POS
  // prints it (text format, monospace).
  async function showReceipt(code) {
    try {
      const r = await fetch('/v1/bills/' + encodeURIComponent(code) + '/receipt?format=text', { credentials: 'same-origin' });
      if (!r.ok) throw new Error('小票读取失败（HTTP ' + r.status + '）');
      $('receipt-text').textContent = await r.text();
      $('receipt-bill').textContent = code;
      $('receipt').hidden = false;
    } catch (e) {
      show('rejected', '小票预览失败', code, e.message);
    }
  }
  $('btn-print').onclick = () => window.print();
  $('btn-receipt-close').onclick = () => { $('receipt').hidden = true; $('scan').focus(); };

  // withCheck adds the 验码 verdict (checks.online) to an item's line.
  function withCheck(li, checks, code) {
    const c = (checks || []).find((x) => x.code === code);
    if (!c) return li;
    if (c.state === 'ok') {
      li.append(el('span', 'tag ok', '验码通过'));
      return li;
    }
    if (c.state === 'pending') {
      li.append(el('span', 'tag', '验码中'));
      return li;
    }
    const tags = (c.problems || []).map((x) => el('span', 'tag bad', zh(x, 'problem_')));
    li.append(...(tags.length ? tags : [el('span', 'tag bad', '验码异常')]));
    li.classList.add('must');
    return li;
  }

  // showCheck tells the clerk of a bad 验码 verdict as it arrives.
  function showCheck(e) {
    if (e.status !== 'bad') return;
    const text = problems((e.reason || '').split(',').filter(Boolean));
    show('rejected', '验码异常', e.code, text);
    signal('check');
    logScan({ at: e.at, status: 'check', code: e.code, text });
  }

  function fill(id, list, line) {
    const shown = list.slice(0, 50).map(line);
    if (list.length > 50) shown.push(el('li', 'muted', `… 还有 ${list.length - 50} 条`));
    $(id).replaceChildren(...shown);
    $('n-' + id.slice(4)).textContent = `（${list.length}）`;
  }

  function renderExpected(x) {
    state.expected = x || null;
    $('expected').hidden = !x;
    if (!x) return;
    $('exp-expected').textContent = x.expected;
    $('exp-scanned').textContent = x.scanned;
    const earlier = $('exp-earlier');
    earlier.hidden = !x.earlier;
    earlier.textContent = x.earlier ? `另有 ${x.earlier} 盒已在此前（或另一台终端）的收货中收到` : '';
    const done = $('exp-complete');
    done.textContent = x.complete ? '已齐' : x.missing.length ? '未齐' : '有差异';
    done.className = 'tag ' + (x.complete ? 'ok' : 'bad');
    fill('exp-missing', x.missing, (e) => el('li', e.special ? 'must' : '', `${e.name || ''} ${e.code}`,
      el('span', 'sub', [e.lot && '批号 ' + e.lot, e.parent && '箱 ' + e.parent, e.special && '特药/重点品种：必须逐盒扫描'].filter(Boolean).join(' · '))));
    fill('exp-extra', x.extra, itemLine);
    fill('exp-wronglot', x.wrong_lot, (w) => el('li', '', w.code, el('span', 'sub', `应为 ${w.expected_lot}，实为 ${w.scanned_lot}`)));
  }

  async function refreshStatus() {
    try {
      renderStatus(await api('GET', '/v1/status'));
    } catch (e) {
      $('queue-meta').textContent = '读取状态失败：' + e.message;
    }
  }

  function renderStatus(st) {
    const env = $('nhsa-env');
    env.hidden = !st.nhsa_env;
    env.textContent = st.nhsa_env === 'prod' ? '医保 正式' : '医保 测试';
    env.className = 'badge ' + (st.nhsa_env === 'prod' ? 'prod' : 'test');
    const names = Object.keys(st.destinations || {}).sort();
    $('dests').replaceChildren(...names.map((n) => {
      const d = st.destinations[n];
      const failing = el('td', 'n' + (d.failing ? ' hot' : ''), String(d.failing),
        d.failing ? el('span', 'sub', '上传失败，自动重试中' + (d.failing_since ? '（自 ' + clock(d.failing_since) + '）' : '')) : null);
      if (d.last_error) failing.title = d.last_error; // the English detail, for support
      return el('tr', '', el('td', '', DESTS[n] || n, d.oldest_pending_age ? el('span', 'sub', '最早一单已等 ' + duration(d.oldest_pending_age)) : null),
        el('td', 'n', String(d.pending)), failing, el('td', 'n' + (d.held ? ' hot' : ''), String(d.held || 0)),
        el('td', 'n' + (d.dead ? ' hot' : ''), String(d.dead)));
    }));
    const open = (st.open_bills || []).length;
    $('queue-meta').textContent = names.length ? `设备 ${st.device || ''} · 打开的单据 ${open}` : '未启用上传：单据只保存在本机';
    $('queue-note').textContent = st.started_at ? '程序启动于 ' + dateTime(st.started_at) : '';
    $('scanners').textContent = (st.scanners || []).map((s) => `扫码枪 ${s.name}：${s.connected ? '已连接' : '未连接'}`).join('；');
    const alarms = st.alarms || [];
    $('alarms').hidden = alarms.length === 0;
    $('alarms').replaceChildren(...alarms.map((a) => {
      if (a.message) console.warn('alarm', a.kind, a.message);
      return el('div', '', '告警：' + zh(a.kind, 'alarm_') + (a.at ? '（' + clock(a.at) + '）' : ''));
    }));
  }

  // act runs a button's request and reports it in the feedback box.
  async function act(fn) {
    try {
      const msg = await fn();
      if (msg) show('command', msg, '', '');
    } catch (e) {
      show('rejected', '操作失败', '', e.message);
      signal('rejected');
    }
    refreshSession();
    focusScan();
  }

  // ask is a confirmation in the page's own dialog (window.confirm looks
  // like a browser error on some PDAs and blocks the event stream).
  function ask(title, text, ok) {
    const dlg = $('ask-dialog');
    $('ask-title').textContent = title;
    $('ask-text').textContent = text;
    $('ask-ok').textContent = ok || '确定';
    return new Promise((resolve) => {
      let answer = false;
      $('ask-ok').onclick = () => { answer = true; dlg.close(); };
      $('ask-no').onclick = () => { answer = false; dlg.close(); };
      // The close event comes a task later: one from the dialog's last
      // use can arrive after it opened again, and is not this answer.
      dlg.onclose = () => { if (!dlg.open) { resolve(answer); focusScan(); } };
      if (!dlg.open) dlg.showModal();
      $('ask-no').focus();
    });
  }

  async function open(kind, partner, original, attrs) {
    const r = await api('POST', '/v1/sessions', { session: state.session, kind, partner: partner || undefined, original, attrs });
    return `${r.created ? '已开始' : '继续'} ${TYPES[r.bill.bill_type] || ''} ${r.bill.bill_code}`;
  }

  async function loadPartners() {
    try {
      const list = await api('GET', '/v1/partners');
      state.partners = Object.fromEntries(list.map((p) => [p.ent_id, p.name]));
      return list;
    } catch (e) {
      return [];
    }
  }

  // Manual receiving (no upstream bill, or offline): the supplier comes
  // from the catalogue's partner list the agent holds locally.
  async function pickPartner() {
    const sel = $('partner-select');
    sel.replaceChildren(el('option', null, '（不指定）'));
    sel.firstChild.value = '';
    for (const p of await loadPartners()) {
      const o = el('option', null, p.name);
      o.value = p.ent_id;
      sel.append(o);
    }
    $('partner-id').value = '';
    const dlg = $('partner-dialog');
    return new Promise((resolve) => {
      dlg.onclose = () => { if (!dlg.open) resolve(dlg.returnValue === 'ok' ? ($('partner-id').value.trim() || sel.value) : null); };
      dlg.returnValue = '';
      dlg.showModal();
    });
  }

  function dialogValue(id) {
    const dlg = $(id);
    return new Promise((resolve) => {
      dlg.onclose = () => { if (!dlg.open) { resolve(dlg.returnValue === 'ok'); focusScan(); } };
      dlg.returnValue = '';
      dlg.showModal();
    });
  }

  $('btn-sale').onclick = () => act(() => open('sale'));
  $('btn-receive').onclick = async () => {
    const partner = await pickPartner();
    if (partner !== null) act(() => open('receive', partner));
  };
  $('btn-return').onclick = async () => {
    $('return-original').value = '';
    if (!(await dialogValue('return-dialog'))) return;
    const orig = $('return-original').value.trim();
    act(() => open('return', '', orig ? { bill_code: orig } : undefined));
  };
  $('btn-finish').onclick = async () => {
    const x = state.expected;
    if (x && !x.complete) {
      const parts = [`应收 ${x.expected} 盒，已扫 ${x.scanned} 盒`];
      if (x.earlier) parts.push(`此前已收 ${x.earlier} 盒`);
      if (x.missing.length) parts.push(`还缺 ${x.missing.length} 盒`);
      if (x.extra.length) parts.push(`多出 ${x.extra.length} 盒`);
      if (x.wrong_lot.length) parts.push(`批号不符 ${x.wrong_lot.length} 盒`);
      if (!(await ask('收货未齐，仍要完成吗？', parts.join('，') + '。完成后缺少的盒不再计入本次收货。', '仍要完成'))) {
        show('command', '未完成：请继续收货', '', '');
        return;
      }
    }
    act(async () => {
      let b;
      try {
        b = await api('POST', sessionPath() + '/finish');
      } catch (e) {
        if (e.data && finishRefused(e.data)) return null;
        throw e;
      }
      if (b.bill_type === 321) showReceipt(b.bill_code);
      let done = `已完成 ${b.bill_code}：${b.items} 码`;
      if (b.bill_type === 901) {
        state.stResult = b;
        done = `盘点完成 ${b.bill_code}：盘盈 ${(b.stock_gains || []).length} 盒，盘亏 ${b.shortfall ? b.shortfall.total : 0} 盒`;
      }
      const held = (b.outlook || []).filter((o) => o.will === 'hold');
      if (held.length === 0) return done;
      showHeld(b, held);
      return null;
    });
  };

  // showHeld says which back ends will hold a finished bill and what it
  // lacks, so the clerk can have it completed before the customer leaves.
  function showHeld(b, held) {
    const where = held.map((o) => DESTS[o.dest] || o.dest).join('、');
    const lines = held.flatMap((o) => o.missing.map((m) => `${DESTS[o.dest] || o.dest} 缺少 ${m.field || m.detail}（来源：${sourceText(m.source)}）`));
    show('held', `已完成 ${b.bill_code}，但暂不上传${where}：资料不全`, b.bill_code,
      lines.join('\n') + `\n补录后自动上传：收银系统补录单据属性，或在收银电脑运行 pda-agent queue set ${b.bill_code} 键=值`);
  }

  function sourceText(src) {
    if (src.startsWith('attr ')) return '单据属性 ' + src.slice(5);
    if (src.startsWith('config ')) return '配置 ' + src.slice(7);
    return { catalogue: '商品目录', code: '追溯码/收货批号', partner: '往来单位', operator: '操作员', bill: '单据', 'personal-data key': '个人信息密钥' }[src] || src;
  }
  $('btn-cancel').onclick = async () => {
    if (!(await ask('取消当前单据？', '已扫的码将被释放，本单不会上传。', '取消单据'))) return;
    act(async () => {
      const b = await api('POST', sessionPath() + '/cancel', { reason: '店员在页面上取消' });
      return `已取消 ${b.bill_code}`;
    });
  };

  // Scans go one at a time, in the order they were read: a fast scanner
  // must not have its codes overtake each other on the way.
  let pending = Promise.resolve();
  function submitScan(code) {
    if (code.trim()) pending = pending.then(() => sendScan(code));
  }
  $('scan-form').onsubmit = (ev) => {
    ev.preventDefault();
    const input = $('scan');
    const code = input.value;
    input.value = '';
    submitScan(code);
  };
  async function sendScan(code) {
    try {
      const r = await api('POST', '/v1/scans', { session: state.session, code, source: 'page' });
      showScan({ ...r, code });
      if (!state.live) logScan({ ...r, code });
    } catch (e) {
      const d = e.data || {};
      const s = { status: 'error', reason: d.reason || d.error || 'internal', message: d.message, code };
      showScan(s);
      logScan(s);
    }
    later('session', 150, refreshSession);
  }

  // A keyboard-wedge scanner types wherever the focus is, fast, and ends
  // with Enter (or Tab). Keys typed outside a scan field are held back a
  // moment: a burst ending in Enter is a scan and goes to the scan box;
  // keys that came slowly (a person typing) are given to the field after
  // all. So a scan never edits the session name or any other field, and
  // outside fields (body, a heading, a button) every key goes to the scan
  // box.
  const WEDGE_GAP = 60; // ms: a scanner's keys come closer than this
  const WEDGE_MIN = 4; // characters: shorter bursts are a person typing
  let burst = null;
  const isText = (t) => t && (t.isContentEditable || t.tagName === 'TEXTAREA' ||
    (t.tagName === 'INPUT' && !['checkbox', 'radio', 'button', 'submit'].includes(t.type)));
  const scanField = (t) => t && t.dataset && t.dataset.scan !== undefined;
  const dialogOpen = () => document.querySelector('dialog[open]');
  function focusScan() {
    if (!dialogOpen()) $('scan').focus();
  }
  // giveBack hands a person's keys to the field they typed in.
  function giveBack(b) {
    const t = b.target;
    if (!isText(t) || !t.isConnected) {
      if (!dialogOpen()) {
        $('scan').value += b.chars.join('');
        $('scan').focus();
      }
      return;
    }
    const text = b.chars.join('');
    if (t.isContentEditable) {
      swallow = null; // this insertion is ours
      document.execCommand('insertText', false, text);
      return;
    }
    // Number and e-mail fields have no selection: their keys go at the end.
    let at = null, end = null;
    try { at = t.selectionStart; end = t.selectionEnd; } catch (e) { /* no selection API */ }
    if (at === null) at = end = t.value.length;
    t.value = t.value.slice(0, at) + text + t.value.slice(end);
    try { t.setSelectionRange(at + text.length, at + text.length); } catch (e) { /* no selection API */ }
    t.dispatchEvent(new Event('input', { bubbles: true }));
  }
  // A tap or a focus change ends a burst: what came so far was typed.
  function flushBurst() {
    if (!burst) return;
    clearTimeout(burst.timer);
    const b = burst;
    burst = null;
    giveBack(b);
  }
  for (const kind of ['pointerdown', 'mousedown', 'focusout']) document.addEventListener(kind, flushBurst, true);
  // swallow is the character of a key this handler took: a browser that
  // still inserts it after preventDefault (focus moved in keydown, or
  // input injected by a driver) has that insertion cancelled.
  let swallow = null;
  document.addEventListener('beforeinput', (ev) => {
    if (swallow !== null && ev.inputType === 'insertText' && ev.data === swallow) ev.preventDefault();
    swallow = null;
  }, true);
  document.addEventListener('keydown', (ev) => {
    const t = ev.target;
    swallow = null;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing || scanField(t)) return;
    const now = performance.now();
    if (ev.key.length === 1) {
      swallow = ev.key;
      // Outside text fields with no burst going, a key is typed into the
      // scan box at once (a person typing a code by hand sees it there).
      if (!isText(t) && !burst && !dialogOpen()) {
        ev.preventDefault();
        $('scan').value += ev.key;
        $('scan').focus();
        return;
      }
      ev.preventDefault();
      if (burst && now - burst.last > WEDGE_GAP) {
        clearTimeout(burst.timer);
        giveBack(burst);
        burst = null;
      }
      burst = burst || { target: t, chars: [], last: now };
      burst.chars.push(ev.key);
      burst.last = now;
      clearTimeout(burst.timer);
      burst.timer = setTimeout(() => { const b = burst; burst = null; if (b) giveBack(b); }, WEDGE_GAP);
      return;
    }
    if ((ev.key === 'Enter' || ev.key === 'Tab') && burst) {
      clearTimeout(burst.timer);
      const b = burst;
      burst = null;
      if (b.chars.length >= WEDGE_MIN && now - b.last <= WEDGE_GAP) {
        ev.preventDefault();
        submitScan(b.chars.join(''));
        return;
      }
      giveBack(b);
    }
  }, true);
  // Scanners set to end with Tab instead of Enter.
  $('scan').addEventListener('keydown', (ev) => {
    if (ev.key === 'Tab' && $('scan').value) {
      ev.preventDefault();
      $('scan-form').requestSubmit();
    }
  });

  $('up-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const code = $('up-code').value.trim();
    if (!code) return;
    $('up-list').replaceChildren(el('p', 'muted', '查询中…'));
    try {
      state.upstream = await api('GET', '/v1/upstream?code=' + encodeURIComponent(code));
    } catch (e) {
      state.upstream = [];
      $('up-list').replaceChildren(el('p', 'must', e.message));
      $('btn-recv-start').hidden = true;
      return;
    }
    renderUpstream();
  };

  // renderUpstream lists the supplier bills found, each with 拒收 or its
  // undo (撤销拒收).
  function renderUpstream() {
    $('up-list').replaceChildren(...(state.upstream.length ? state.upstream.map((u, i) => {
      const box = el('input');
      box.type = 'checkbox';
      box.checked = !u.rejected;
      box.dataset.i = i;
      const rej = el('button', u.rejected ? 'small' : 'small danger', u.rejected ? '撤销拒收' : '拒收');
      rej.type = 'button';
      rej.dataset.bill = u.bill_code;
      rej.onclick = () => (u.rejected ? unreject(u) : reject(u));
      return el('div', 'up', el('label', 'up-pick', box, el('span', '', el('b', '', u.bill_code), ' ', TYPES[u.bill_type] || String(u.bill_type),
        u.rejected ? el('span', 'tag bad', '已拒收') : null,
        el('span', 'sub', `${u.from_user_name || partnerName(u.from_user_id) || '未知供应商'} · ${u.bill_time || ''}`))), rej);
    }) : [el('p', 'muted', '码上放心没有含这个码的供应商单据')]));
    $('btn-recv-start').hidden = state.upstream.length === 0;
  }

  async function reject(u) {
    $('reject-bill').textContent = u.bill_code;
    if (!(await dialogValue('reject-dialog'))) return;
    const reason = $('reject-reason').value.trim() || '货物与单据不符';
    act(async () => {
      await api('POST', '/v1/upstream/' + encodeURIComponent(u.bill_code) + '/reject', { reason });
      u.rejected = true;
      renderUpstream();
      return `已拒收 ${u.bill_code}`;
    });
  }

  async function unreject(u) {
    act(async () => {
      await api('DELETE', '/v1/upstream/' + encodeURIComponent(u.bill_code) + '/reject');
      u.rejected = false;
      renderUpstream();
      return `已撤销拒收 ${u.bill_code}`;
    });
  }

  $('btn-recv-start').onclick = () => act(async () => {
    const picked = [...$('up-list').querySelectorAll('input:checked')].map((b) => state.upstream[b.dataset.i]);
    if (!picked.length) throw new Error('请至少选择一张单据');
    const v = await api('POST', '/v1/receivings', { session: state.session, upstream: picked });
    renderSession(v);
    return `开始收货：应收 ${v.expected ? v.expected.expected : 0} 盒`;
  });

  $('btn-confirm-all').onclick = () => act(async () => {
    const r = await api('POST', sessionPath() + '/confirm-all');
    const out = [el('p', '', `已确认 ${r.added} 盒`)];
    if (r.must_scan.length) out.push(el('p', 'must', `特药/重点品种必须逐盒扫描：还有 ${r.must_scan.length} 盒`),
      el('ul', 'items', ...r.must_scan.map((e) => el('li', '', `${e.name || ''} ${e.code}`))));
    if (r.refused.length) out.push(el('p', 'must', `${r.refused.length} 盒被拒绝`),
      el('ul', 'items', ...r.refused.map((x) => el('li', '', x.code, el('span', 'sub', zh(x.reason))))));
    $('confirm-result').replaceChildren(...out);
    return `已确认 ${r.added} 盒`;
  });

  // Pairing a handheld (the counter PC only): a one-time QR code.
  $('btn-pair').onclick = async () => {
    try {
      const p = await api('POST', '/v1/pairing', {});
      $('pair-qr').src = p.qr_png;
      $('pair-url').textContent = p.url;
      $('pair-fp').textContent = p.fingerprint_sha256;
      const l = await api('GET', '/v1/devices');
      $('pair-devices').replaceChildren(...(l.devices.length ? l.devices.map((d) => el('li', '', `${d.name}（${d.id}）`,
        el('span', 'sub', '配对于 ' + dateTime(d.paired_at) + (d.last_seen ? ' · 最近使用 ' + dateTime(d.last_seen) : '')))) : [el('li', 'muted', '还没有')]));
      dialogValue('pair-dialog');
    } catch (e) {
      show('rejected', '配对失败', '', e.message);
    }
  };

  const sessionInput = $('session');
  function useSession(v) {
    state.session = v;
    sessionInput.value = v;
    localStorage.setItem('pda.session', v);
    $('log').replaceChildren();
    $('confirm-result').replaceChildren();
    $('receipt').hidden = true;
    state.stResult = null;
    show('idle', '等待扫码', '', '');
    refreshSession();
  }
  sessionInput.value = state.session;
  // A session name typed by hand takes effect on Enter or when the field
  // is left (keys given back after a burst do not fire change).
  sessionInput.onchange = sessionInput.onblur = () => {
    const v = sessionInput.value.trim();
    if (!v) { sessionInput.value = state.session; return; }
    if (v !== state.session) useSession(v);
  };
  sessionInput.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !burst) sessionInput.onchange();
  });

  // whoami: a paired handheld uses its own session (so two clerks never
  // scan into one bill) and shows its name; the counter PC may pair.
  async function whoami() {
    try {
      const w = await api('GET', '/v1/whoami');
      state.device = w.device;
      $('btn-pair').hidden = !w.lan_enabled || !!w.device;
      if (w.device) {
        $('who').hidden = false;
        $('who').textContent = w.device.name;
        if (!localStorage.getItem('pda.session')) useSession(w.session);
      }
    } catch (e) { /* older agent */ }
  }

  // connect follows the agent's events; EventSource retries by itself
  // after a dropped connection, but not after a refused one (401).
  function connect() {
    const es = new EventSource('/v1/events');
    const live = $('live');
    es.onopen = () => {
      state.live = true;
      live.textContent = '实时';
      live.className = 'badge on';
      refreshSession();
      refreshStatus();
    };
    es.onerror = () => {
      state.live = false;
      live.textContent = '重连中…';
      live.className = 'badge off';
      if (es.readyState === EventSource.CLOSED) {
        refreshStatus(); // shows the login banner when that is the cause
        setTimeout(connect, 3000);
      }
    };
    es.addEventListener('scan', (m) => {
      const e = JSON.parse(m.data);
      if (e.session !== state.session) return;
      showScan(e, e.source === ownSource());
      logScan(e);
      later('session', 150, refreshSession);
    });
    es.addEventListener('check', (m) => {
      const e = JSON.parse(m.data);
      if (e.session !== state.session) return;
      showCheck(e);
      later('session', 150, refreshSession);
    });
    es.addEventListener('line', (m) => {
      const e = JSON.parse(m.data);
      if (e.session === state.session) later('session', 100, refreshSession);
    });
    es.addEventListener('bill', (m) => {
      const e = JSON.parse(m.data);
      if (!e.session || e.session === state.session) later('session', 100, refreshSession);
      later('status', 300, refreshStatus);
    });
    for (const kind of ['delivery', 'alarm']) es.addEventListener(kind, () => later('status', 500, refreshStatus));
  }

  // Stock-taking (盘点): the open count shows what it found the ledger did
  // not know (盘盈) and what it has not found yet; a finished one (kept
  // until closed) its 盘亏, which one tap books as a 盘亏出库 bill.
  function fillReasons(sel, kind) {
    sel.replaceChildren(...REASONS[kind].map((r) => {
      const o = el('option', null, MSG['reason_' + r]);
      o.value = r;
      return o;
    }));
  }
  // reasonOf is the reason the bill keeps: the picked one with the note,
  // or the note alone for 其他 ('' if none).
  function reasonOf(sel, note) {
    const n = note.value.trim();
    if (sel.value === 'other') return n;
    return MSG['reason_' + sel.value] + (n ? '：' + n : '');
  }
  const shortLine = (p) => el('li', '', p.code, el('span', 'sub', [p.lot && '批号 ' + p.lot, p.expiry && '有效期至 ' + p.expiry,
    '账上最后记录：' + (TYPES[p.last_type] || p.last_type) + ' ' + p.last_bill].filter(Boolean).join(' · ')));
  function scopeText(sf, live) {
    if (sf.scope === 'all') return '盘点范围：全店（所有在库的盒）';
    return '盘点范围：本次扫到的品种' + (sf.products && sf.products.length ? `（${sf.products.length} 个）` : '') +
      (live ? '；整店盘点请先勾选“全店盘点”再开始' : '');
  }
  function renderStock(v) {
    const b = v && v.bill;
    const live = b && b.bill_type === 901;
    const r = live ? null : state.stResult;
    $('stk').hidden = !live && !r;
    if (!live && !r) return;
    const gains = (live ? v.stock_gains : r.stock_gains) || [];
    const sf = (live ? v.shortfall : r.shortfall) || { packs: [], total: 0, scope: 'products' };
    $('stk-head').textContent = live
      ? `盘点中 ${b.bill_code}：已盘 ${v.items.length} 盒 · 盘盈 ${gains.length} · 未找到 ${sf.total}`
      : `盘点完成 ${r.bill_code}：共 ${r.items} 盒 · 盘盈 ${gains.length} · 盘亏 ${sf.total}`;
    $('stk-scope').textContent = scopeText(sf, live);
    $('stk-short-title').firstChild.textContent = live ? '未找到（完成时算盘亏） ' : '盘亏：账上有、盘点未找到 ';
    fill('stk-gains', gains, itemLine);
    fill('stk-short', sf.packs, shortLine);
    if (sf.total > sf.packs.length) $('stk-short').append(el('li', 'muted', `… 共 ${sf.total} 盒`));
    $('stk-book').hidden = live || sf.total === 0;
    const booked = (sf.booked || []);
    $('stk-booked').textContent = live ? '' : booked.length ? '已登记盘亏：' + booked.join('、') : sf.total === 0 ? '没有盘亏' : '';
    $('btn-stk-close').hidden = live;
  }
  fillReasons($('stk-reason'), 'stock_loss');
  $('btn-stocktake').onclick = () => {
    state.stResult = null;
    act(() => open('stocktake', '', undefined, $('stock-all').checked ? { 'stock.scope': 'all' } : undefined));
  };
  $('btn-stk-close').onclick = () => { state.stResult = null; renderStock(state.view); focusScan(); };
  $('stk-book').onsubmit = (ev) => {
    ev.preventDefault();
    const r = state.stResult;
    const reason = reasonOf($('stk-reason'), $('stk-note'));
    if (!reason) { show('rejected', '请填写盘亏原因', '', MSG.reason_other); return; }
    act(async () => {
      const path = '/v1/stocktakes/' + encodeURIComponent(r.bill_code) + '/shortfall';
      const loss = await api('POST', path + '/book', { reason });
      r.shortfall = await api('GET', path);
      $('stk-note').value = '';
      renderStock(state.view);
      const held = (loss.outlook || []).filter((o) => o.will === 'hold');
      if (held.length) { showHeld(loss, held); return null; }
      return `已登记盘亏 ${loss.bill_code}：${loss.items} 盒（${reason}）`;
    });
  };

  // A stock change (库存变更): a kind with its reason (调拨出库 with the
  // store it goes to), then the packs are scanned and 完成 as any bill.
  const changeKind = $('change-kind');
  changeKind.onchange = () => {
    fillReasons($('change-reason'), changeKind.value);
    $('change-partner-row').hidden = changeKind.value !== 'transfer_out';
  };
  $('btn-change').onclick = async () => {
    changeKind.onchange();
    $('change-note').value = '';
    $('change-error').textContent = '';
    const sel = $('change-partner');
    sel.replaceChildren(el('option', null, '（不指定）'));
    sel.firstChild.value = '';
    for (const p of await loadPartners()) {
      const o = el('option', null, p.name);
      o.value = p.ent_id;
      sel.append(o);
    }
    $('change-dialog').showModal();
  };
  $('change-cancel').onclick = () => { $('change-dialog').close(); focusScan(); };
  $('change-form').onsubmit = (ev) => {
    ev.preventDefault();
    const kind = changeKind.value;
    const reason = reasonOf($('change-reason'), $('change-note'));
    if (!reason) { $('change-error').textContent = '请填写原因说明'; return; }
    $('change-dialog').close();
    state.stResult = null;
    act(() => open(kind, kind === 'transfer_out' ? $('change-partner').value : '', undefined, { 'stock.reason': reason }));
  };

  // Reconciliation (对账): the last run per platform, the open findings
  // with 重发 for the device's own bills, and 立即对账.
  const pick = (a, n) => a.slice(0, n).join('、') + (a.length > n ? ` 等 ${a.length} 个` : '');
  function findingText(f) {
    const local = f.local || [], plat = f.platform || [];
    if (f.kind === 'missing_on_platform') return `本机已上传 ${local.length} 码，平台上没有这张单`;
    if (f.kind === 'unknown_here') return `平台上有 ${plat.length} 码，本机没有这张单（别的收银台，或不是本店的记录）`;
    if (f.kind === 'codes_differ') {
      const onlyLocal = local.filter((c) => !plat.includes(c)), onlyPlat = plat.filter((c) => !local.includes(c));
      return [onlyLocal.length && '只在本机：' + pick(onlyLocal, 2), onlyPlat.length && '只在平台：' + pick(onlyPlat, 2)].filter(Boolean).join('；') ||
        `本机 ${local.length} 码，平台 ${plat.length} 码`;
    }
    return '';
  }
  function renderRecon(v) {
    $('recon-meta').textContent = v.running ? '对账进行中…' : v.enabled ? `每天在 ${v.quiet_hours || '夜间'} 自动对账` : '未开启每日自动对账（可点“立即对账”）';
    const last = {};
    for (const r of v.runs || []) if (!last[r.dest] || r.seq > last[r.dest].seq) last[r.dest] = r;
    const rows = Object.keys(last).sort().map((d) => {
      const r = last[d];
      return el('li', '', el('b', '', DESTS[d] || d), ' ' + dateTime(r.at),
        el('span', 'sub', `核对 ${r.bills} 单 · 平台记录 ${r.records} 条 · 差异 ${(r.findings || []).length}` +
          ((r.skipped || []).length ? ` · 未核对 ${r.skipped.length} 类单据` : '')));
    });
    for (const [d, f] of Object.entries(v.failures || {})) {
      console.warn('reconcile', d, f.error);
      rows.push(el('li', 'must', `${DESTS[d] || d} ${dateTime(f.at)} 对账失败，稍后自动重试`));
    }
    $('recon-runs').replaceChildren(...(rows.length ? rows : [el('li', 'muted', '还没有对账记录')]));
    const open = v.open || [];
    $('n-findings').textContent = `（${open.length}）`;
    $('recon-findings').replaceChildren(...(open.length ? open.map((f) => {
      if (f.detail) console.info('finding', f.id, f.detail);
      const li = el('li', 'finding', el('span', 'tag bad', zh(f.kind, 'finding_')), el('span', '', DESTS[f.dest] || f.dest),
        el('b', 'code', f.bill || f.row || ''), el('span', 'sub', findingText(f)));
      li.dataset.finding = f.id;
      if (f.resendable) {
        const b = el('button', 'small', '一键重发');
        b.type = 'button';
        b.onclick = () => act(async () => {
          const r = await api('POST', '/v1/reconcile/findings/' + encodeURIComponent(f.id) + '/resend');
          b.disabled = true;
          return `已重新排队上传 ${r.bill}（${DESTS[f.dest] || f.dest}）`;
        });
        li.append(b);
      }
      return li;
    }) : [el('li', 'muted', '没有差异')]));
    $('btn-reconcile').disabled = !!v.running;
    if (v.running) later('recon', 2000, refreshRecon);
  }
  async function refreshRecon() {
    try {
      renderRecon(await api('GET', '/v1/reconcile?limit=50'));
    } catch (e) {
      $('recon-meta').textContent = '读取对账结果失败：' + e.message;
    }
  }
  $('btn-reconcile').onclick = () => act(async () => {
    await api('POST', '/v1/reconcile', {});
    $('btn-reconcile').disabled = true;
    later('recon', 1000, refreshRecon);
    return '已开始对账';
  });

  loadPartners().then(() => { if (state.view) renderSession(state.view); });
  refreshRecon();
  setInterval(refreshRecon, 60000);
  // The session is known once whoami answered (a handheld's own).
  whoami().then(() => { connect(); refreshSession(); });
  refreshStatus();
  setInterval(refreshStatus, 15000);
})();
