'use strict';
// 码上放心合规: 验证率, the bills pulling it down, the service end date, the
// key-variety list in force and the supplier bills changed after receipt,
// from GET /v1/compliance (agent/compliance_msfx.go). Plain DOM, no HTML
// strings: every value is set as text.
(function () {
  const $ = (id) => document.getElementById(id);
  const li = (parts) => {
    const el = document.createElement('li');
    for (const [text, cls] of parts) {
      const s = document.createElement('span');
      s.textContent = text;
      if (cls) s.className = cls;
      el.append(s);
    }
    return el;
  };
  const pct = (x) => (x * 100).toFixed(1) + '%';
  const kinds = { upstream_not_received: '上游单据未收货', own_not_delivered: '本店单据未上传成功' };

  function render(c) {
    const r = c.verification_rate;
    if (r) {
      $('rate').textContent = pct(r.rate);
      $('rate').className = 'big ' + (r.rate >= 0.95 ? 'good' : 'bad');
      $('rate-parts').textContent = `${r.since} 至 ${r.until}：上游单据已收 ${r.upstream_received}/${r.upstream_bills}，` +
        `本店单据已上传 ${r.own_delivered}/${r.own_bills}（${r.formula === 'mean' ? '两项平均' : '合并计算'}，口径未经平台确认）`;
      $('rate-platform').textContent = r.platform_rate != null
        ? `平台计数：上游 ${r.platform_upstream} 张，本店 ${r.platform_own} 张，按平台计数 ${pct(r.platform_rate)}` : '平台计数不可用';
      const down = $('down');
      down.replaceChildren();
      for (const b of r.pulling_down || []) {
        down.append(li([[kinds[b.kind] || b.kind, 'alarm'], [' ' + b.bill_code, 'code'], [' ' + (b.bill_time || '') + ' ' + (b.detail || '')]]));
      }
      if (!down.children.length) down.append(li([['无']]));
    } else {
      $('rate').textContent = '—';
      $('rate-parts').textContent = '尚未向码上放心查询（见配置 msfx.compliance.refresh）';
    }
    const s = c.service;
    $('service').textContent = s ? `截止 ${s.end_date}，剩 ${s.days_left} 天${s.alarm ? '：请及时续费' : ''}` : '未知（尚未查询）';
    $('service').className = s && s.alarm ? 'alarm' : '';
    const k = c.key_variety_list;
    $('keylist').textContent = k ? `版本 ${k.version}，${k.products} 个品种，${new Date(k.fetched_at).toLocaleString('zh-CN')} 获取`
      : '尚未获取平台目录（仅用本店目录的重点品种列）';
    const ch = $('changed');
    ch.replaceChildren();
    for (const u of c.changed_upstream || []) {
      ch.append(li([[u.bill_code, 'code'], [` ${u.changed_at} 由 ${u.from} 修改；本店收货单 ${u.received_in}：`], [u.what, 'alarm']]));
    }
    if (!ch.children.length) ch.append(li([['无']]));
    const errs = Object.entries(c.compliance_errors || {});
    $('errors').textContent = errs.length ? '查询失败：' + errs.map(([m, e]) => m.split('.').slice(-2).join('.') + ' ' + e).join('；') : '';
    $('refreshed').textContent = c.refreshed_at ? '更新于 ' + new Date(c.refreshed_at).toLocaleString('zh-CN') : '';
    $('state').textContent = '';
    $('view').hidden = false;
  }

  async function load() {
    try {
      const r = await fetch('/v1/compliance', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (r.status === 401) {
        $('state').textContent = '未登录：请用 pda-agent ui 打印的链接打开采集页后再来。';
        return;
      }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      render(await r.json());
    } catch (e) {
      $('state').textContent = '加载失败：' + e.message;
    }
  }
  load();
})();
