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

  const VERDICT = { accepted: '已接收', duplicate: '重复', rejected: '拒绝', command: '命令', error: '未记录', check: '验码异常' };
  const REASON = {
    no_session: '没有打开的单据：先点“开始销售”或“开始收货”',
    check_failed: '验码未通过：请将异常的盒移出本单或登记例外后再结算',
    product_barcode: '这是商品条码（69码），不是追溯码',
    already_sold: '该码已售出', already_received: '该码已入库', not_sold: '该盒不在已售状态（在库、已退货或已出库），不能退货',
    not_sold_here: '本机没有该盒的销售记录：退货须注明原销售单', not_on_original: '该盒不在所注明的原销售单上',
    not_on_sale: '该药品不在本次销售清单上：请放回', line_complete: '该行已扫够：这一盒多了',
    codes_missing: '无码不结算：还有药品未扫码，请补扫或登记无码原因',
    left_store: '该码已出库', opened_pack: '该盒已拆零', not_splittable: '该商品不能拆零',
    not_enough_units: '剩余数量不足', parent_child: '箱码和它的盒码不能在同一单据',
    session_busy: '本会话已有别的单据', empty_bill: '单据还没有追溯码', bad_command: '命令无效',
    queue_full: '存储已满，本次扫码未记录！', stopping: '程序正在停止，请稍后重扫', internal: '内部错误，未记录',
    bad_length: '位数不对（追溯码为20位）', not_msfx: '不是码上放心追溯码', non_ascii: '含全角或中文字符：请切换英文输入法',
    empty: '空码', too_long: '码太长', control_char: '含不可见字符', unrecognised: '无法识别的码',
    kind_not_allowed: '本店不收这种码', ambiguous_separator: 'GS1 分隔符丢失，无法确定', bad_gtin_check: 'GTIN 校验位错误',
  };
  const ERRORS = {
    bad_request: '请求有误', unauthorized: '未登录', forbidden: '拒绝访问', not_found: '没有找到',
    session_busy: '本会话已有别的单据', empty_bill: '单据还没有追溯码，可以取消', too_large: '内容太大',
    refused: '有码被拒绝', offline: '码上放心未启用或连不上', queue_full: '存储已满，未记录', internal: '内部错误',
    codes_missing: '无码不结算：还有药品未扫码，请补扫或登记无码原因',
    supervisor_required: '重点品种：需店长输入授权码', supervisor_pin_wrong: '店长授权码错误',
    supervisor_not_configured: '本店未设置店长授权码，重点品种不能登记无码', too_many_attempts: '授权码错误次数过多，请一分钟后再试',
  };
  // 验码 problems (checks.online) when a verdict carries no message.
  const PROBLEMS = { sold: '已核销·疑似回流药', cancelled: '已注销', not_found: '码不存在', expired: '已过期', other_product: '非本单品种' };
  const TYPES = { 102: '采购入库', 104: '调拨入库', 116: '消费者退货入库', 201: '销售出库', 202: '退货出库', 203: '调拨出库', 321: '零售出库' };
  const DESTS = { msfx: '码上放心', nhsa: '医保', webhook: 'Webhook' };

  const state = { session: localStorage.getItem('pda.session') || 'counter', live: false, upstream: [], timers: {} };

  // api calls the local API; errors carry the Chinese text of their reason.
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
      const err = new Error((ERRORS[data.error] || '出错') + (data.message ? '：' + data.message : ''));
      err.data = data;
      throw err;
    }
    return data;
  }

  const sessionPath = () => '/v1/sessions/' + encodeURIComponent(state.session);
  const hhmmss = (t) => (t ? new Date(t) : new Date()).toLocaleTimeString('zh-CN', { hour12: false });

  // show puts a verdict in the big feedback box.
  function show(status, title, code, message) {
    $('feedback').className = 'feedback st-' + status;
    $('fb-verdict').textContent = title;
    $('fb-code').textContent = code || '';
    $('fb-message').textContent = message || '';
  }

  function reasonText(reason, message) {
    const zh = REASON[reason];
    return zh ? (message ? zh + '（' + message + '）' : zh) : (message || reason || '');
  }

  // showScan renders a scan result (from the API answer or an event).
  function showScan(s) {
    let title = VERDICT[s.status] || s.status;
    if (s.status === 'rejected' || s.status === 'error') title += '：' + (REASON[s.reason] || s.reason || '');
    show(s.status, title, s.code, s.status === 'accepted' ? '' : reasonText(s.reason, s.message));
  }

  function logScan(s) {
    const li = el('li', 'st-' + s.status, el('span', 'when', hhmmss(s.at)), el('span', 'what', VERDICT[s.status] || s.status),
      s.code || '', s.status !== 'accepted' ? el('span', 'sub', reasonText(s.reason, s.message)) : null);
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
      $('bill').textContent = e.message;
    }
  }

  function itemLine(it) {
    const sub = [it.line && '第 ' + it.line + ' 行', it.lot && '批号 ' + it.lot, it.expiry && '有效期至 ' + it.expiry, it.units && '拆零 ' + it.units].filter(Boolean).join(' · ');
    return el('li', '', it.code, sub ? el('span', 'sub', sub) : null);
  }

  function renderSession(v) {
    const b = v.bill;
    $('bill').textContent = b
      ? `${b.bill_code} · ${TYPES[b.bill_type] || b.bill_type}${b.partner ? ' · 往来 ' + b.partner : ''} · ${b.items} 码`
      : '无打开的单据';
    $('count').textContent = b ? `（${v.items.length}）` : '';
    $('items').replaceChildren(...v.items.slice(-100).reverse().map((it) => withCheck(itemLine(it), v.checks, it.code)));
    renderExpected(v.expected);
    renderLines(v);
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
        packs.length ? el('ul', 'items', ...packs.map((it) => withCheck(el('li', '', el('span', 'code', it.code),
          it.units ? el('span', 'sub', '拆零 ' + it.units) : null), v.checks, it.code))) : null,
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
    if (l.key_variety && !$('exc-pin').value) { err.textContent = ERRORS.supervisor_required; return; }
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
      err.textContent = d.error === 'bad_request' ? '登记未通过：' + (d.message || '') : (ERRORS[d.error] || e.message);
      $('exc-pin').value = '';
    } finally {
      $('exc-ok').disabled = false;
    }
  };

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
      return true;
    }
    if (d.error === 'check_failed') {
      show('rejected', '验码未通过：还不能完成', '', (d.packs || []).map((p) => `${p.code}：${p.message || (p.problems || []).map((x) => PROBLEMS[x] || x).join('；')}`)
        .join('\n') + '\n请将这些盒移出本单（退回货架）或登记例外后再结算');
      return true;
    }
    return false;
  }

  // showReceipt previews the finished sale's 追溯码 block as the POS
  // prints it (text format, monospace).
  async function showReceipt(code) {
    try {
      const r = await fetch('/v1/bills/' + encodeURIComponent(code) + '/receipt?format=text', { credentials: 'same-origin' });
      if (!r.ok) throw new Error(String(r.status));
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
    const tags = (c.problems || []).map((x) => el('span', 'tag bad', PROBLEMS[x] || x));
    li.append(...(tags.length ? tags : [el('span', 'tag bad', '验码异常')]), el('span', 'sub', c.message));
    li.classList.add('must');
    return li;
  }

  // showCheck tells the clerk of a bad 验码 verdict as it arrives.
  function showCheck(e) {
    if (e.status !== 'bad') return;
    show('rejected', '验码异常', e.code, e.message);
    logScan({ at: e.at, status: 'check', code: e.code, message: e.message });
  }

  function fill(id, list, line) {
    const shown = list.slice(0, 50).map(line);
    if (list.length > 50) shown.push(el('li', 'muted', `… 还有 ${list.length - 50} 条`));
    $(id).replaceChildren(...shown);
    $('n-' + id.slice(4)).textContent = `（${list.length}）`;
  }

  function renderExpected(x) {
    $('expected').hidden = !x;
    if (!x) return;
    $('exp-expected').textContent = x.expected;
    $('exp-scanned').textContent = x.scanned;
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
      $('queue-meta').textContent = e.message;
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
      const failing = el('td', 'n' + (d.failing ? ' hot' : ''), String(d.failing), d.failing && d.last_error ? el('span', 'sub', d.last_error) : null);
      return el('tr', '', el('td', '', DESTS[n] || n, d.oldest_pending_age ? el('span', 'sub', '最早一单已等 ' + d.oldest_pending_age) : null),
        el('td', 'n', String(d.pending)), failing, el('td', 'n' + (d.held ? ' hot' : ''), String(d.held || 0)),
        el('td', 'n' + (d.dead ? ' hot' : ''), String(d.dead)));
    }));
    const open = (st.open_bills || []).length;
    $('queue-meta').textContent = names.length ? `设备 ${st.device || ''} · 打开的单据 ${open}` : '未启用上传：单据只保存在本机';
    $('scanners').textContent = (st.scanners || []).map((s) => `扫码枪 ${s.name}：${s.connected ? '已连接' : '未连接'}`).join('；');
    const alarms = st.alarms || [];
    $('alarms').hidden = alarms.length === 0;
    $('alarms').replaceChildren(...alarms.map((a) => el('div', '', '告警：' + a.message)));
  }

  // act runs a button's request and reports it in the feedback box.
  async function act(fn) {
    try {
      const msg = await fn();
      if (msg) show('command', msg, '', '');
    } catch (e) {
      show('rejected', '操作失败', '', e.message);
    }
    refreshSession();
    $('scan').focus();
  }

  async function open(kind, partner) {
    const r = await api('POST', '/v1/sessions', { session: state.session, kind, partner: partner || undefined });
    return `${r.created ? '已开始' : '继续'} ${TYPES[r.bill.bill_type] || ''} ${r.bill.bill_code}`;
  }

  // Manual receiving (no upstream bill, or offline): the supplier comes
  // from the catalogue's partner list the agent holds locally.
  async function pickPartner() {
    const sel = $('partner-select');
    sel.replaceChildren(el('option', null, '（不指定）'));
    sel.firstChild.value = '';
    try {
      for (const p of await api('GET', '/v1/partners')) {
        const o = el('option', null, `${p.name} · ${p.ent_id}`);
        o.value = p.ent_id;
        sel.append(o);
      }
    } catch (e) {
      show('rejected', '读取供应商列表失败', '', e.message);
    }
    $('partner-id').value = '';
    const dlg = $('partner-dialog');
    return new Promise((resolve) => {
      dlg.onclose = () => resolve(dlg.returnValue === 'ok' ? ($('partner-id').value.trim() || sel.value) : null);
      dlg.returnValue = '';
      dlg.showModal();
    });
  }

  $('btn-sale').onclick = () => act(() => open('sale'));
  $('btn-receive').onclick = async () => {
    const partner = await pickPartner();
    if (partner !== null) act(() => open('receive', partner));
  };
  $('btn-finish').onclick = () => act(async () => {
    let b;
    try {
      b = await api('POST', sessionPath() + '/finish');
    } catch (e) {
      if (e.data && finishRefused(e.data)) return null;
      throw e;
    }
    if (b.bill_type === 321) showReceipt(b.bill_code);
    const held = (b.outlook || []).filter((o) => o.will === 'hold');
    if (held.length === 0) return `已完成 ${b.bill_code}：${b.items} 码`;
    showHeld(b, held);
    return null;
  });

  // showHeld says which back ends will hold a finished bill and what it
  // lacks, so the clerk can have it completed before the customer leaves.
  function showHeld(b, held) {
    const where = held.map((o) => DESTS[o.dest] || o.dest).join('、');
    const lines = held.flatMap((o) => o.missing.map((m) => `${DESTS[o.dest] || o.dest} 缺少 ${m.detail}（来源：${sourceText(m.source)}）`));
    show('held', `已完成 ${b.bill_code}，但暂不上传${where}：资料不全`, b.bill_code,
      lines.join('\n') + `\n补录后自动上传：POS 调用 PATCH /v1/bills/${b.bill_code}/attrs，或 pda-agent queue set ${b.bill_code} 键=值`);
  }

  function sourceText(src) {
    if (src.startsWith('attr ')) return '单据属性 ' + src.slice(5);
    if (src.startsWith('config ')) return '配置 ' + src.slice(7);
    return { catalogue: '商品目录', code: '追溯码/收货批号', partner: '往来单位', operator: '操作员', bill: '单据' }[src] || src;
  }
  $('btn-cancel').onclick = () => {
    if (!window.confirm('取消当前单据？已扫的码将被释放。')) return;
    act(async () => {
      const b = await api('POST', sessionPath() + '/cancel', { reason: '店员在页面上取消' });
      return `已取消 ${b.bill_code}`;
    });
  };

  // Scans go one at a time, in the order they were read: a fast scanner
  // must not have its codes overtake each other on the way.
  let pending = Promise.resolve();
  $('scan-form').onsubmit = (ev) => {
    ev.preventDefault();
    const input = $('scan');
    const code = input.value;
    input.value = '';
    if (code.trim()) pending = pending.then(() => sendScan(code));
  };
  async function sendScan(code) {
    try {
      const r = await api('POST', '/v1/scans', { session: state.session, code, source: 'page' });
      showScan({ ...r, code });
      if (!state.live) logScan({ ...r, code });
    } catch (e) {
      const d = e.data || {};
      showScan({ status: 'error', reason: d.reason || d.error, message: d.message || e.message, code });
    }
    later('session', 150, refreshSession);
  }
  // A keyboard-wedge scanner types wherever the focus is: keys typed
  // outside a field (after a button was tapped) go to the scan box, so a
  // scan is never lost. Fields and open dialogs keep their own keys.
  document.addEventListener('keydown', (ev) => {
    const t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing || document.querySelector('dialog[open]')) return;
    if (t && (t.isContentEditable || ['INPUT', 'SELECT', 'TEXTAREA'].includes(t.tagName))) return;
    // Focus moved in keydown: the browser types this very key into the
    // scan box, and the rest of the code follows it there.
    if (ev.key.length === 1) $('scan').focus();
  });
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
    $('up-list').replaceChildren(...(state.upstream.length ? state.upstream.map((u, i) => {
      const box = el('input');
      box.type = 'checkbox';
      box.checked = !u.rejected;
      box.dataset.i = i;
      return el('label', 'up', box, el('span', '', el('b', '', u.bill_code), ' ', TYPES[u.bill_type] || String(u.bill_type),
        u.rejected ? el('span', 'tag bad', '已拒收') : null,
        el('span', 'sub', `${u.from_user_name || u.from_user_id} · ${u.bill_time || ''}`)));
    }) : [el('p', 'muted', '码上放心没有含这个码的供应商单据')]));
    $('btn-recv-start').hidden = state.upstream.length === 0;
  };

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
      el('ul', 'items', ...r.refused.map((x) => el('li', '', x.code, el('span', 'sub', reasonText(x.reason, x.message))))));
    $('confirm-result').replaceChildren(...out);
    return `已确认 ${r.added} 盒`;
  });

  const sessionInput = $('session');
  sessionInput.value = state.session;
  sessionInput.onchange = () => {
    const v = sessionInput.value.trim();
    if (!v) { sessionInput.value = state.session; return; }
    state.session = v;
    localStorage.setItem('pda.session', v);
    $('log').replaceChildren();
    $('confirm-result').replaceChildren();
    $('receipt').hidden = true;
    show('idle', '等待扫码', '', '');
    refreshSession();
  };

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
      showScan(e);
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

  connect();
  refreshSession();
  refreshStatus();
  setInterval(refreshStatus, 15000);
})();
