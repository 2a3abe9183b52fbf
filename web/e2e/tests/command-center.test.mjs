// The command center end to end, in headless chromium against `rex dev`: sign in,
// start a mission and watch its steps turn green live (no reload), cancel a running
// mission, pause a domain, read agents and campaigns, and see a second tenant's data
// refused. Every page is saved as a screenshot in $REX_E2E_ARTIFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, KEY_A, KEY_B, launch, signIn, shot, api, until } from '../lib.mjs';

const STEPS = {
  name: 'ui-e2e-steps', version: 1,
  description: 'five steps that take a few seconds, one behind a durable 2 s delay',
  steps: [
    { id: 'fetch', agent: 'noop', action: 'noop' },
    { id: 'enrich', agent: 'sleep', action: 'sleep', depends_on: ['fetch'], input: { ms: 1500 } },
    { id: 'score', agent: 'sleep', action: 'sleep', depends_on: ['fetch'], input: { ms: 2500 } },
    { id: 'cool_down', agent: 'noop', action: 'noop', depends_on: ['enrich'], delay: '2s' },
    { id: 'report', agent: 'echo', action: 'echo', depends_on: ['cool_down', 'score'], input: { done: true } },
  ],
};
const WAITER = {
  name: 'ui-e2e-waiter', version: 1,
  description: 'waits an hour for a reply signal: running until steered',
  steps: [
    { id: 'first', agent: 'noop', action: 'noop' },
    { id: 'reply', wait_for: { signal: 'lead.replied', timeout: '1h' }, depends_on: ['first'] },
    { id: 'after', agent: 'echo', action: 'echo', depends_on: ['reply'] },
  ],
};

let browser;
let a; // tenant A's signed-in page
let missionA; // a mission of tenant A
let waiterId; // tenant A's mission that waits for a signal

before(async () => {
  for (const d of [STEPS, WAITER]) {
    const r = await api(KEY_A, 'POST', '/v1/definitions', { definition: d });
    assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r));
  }
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

test('an unknown key is refused at sign-in', async () => {
  const context = await browser.newContext({ baseURL: BASE });
  const page = await context.newPage();
  await page.goto('/ui/');
  await page.waitForURL('**/ui/sign-in**'); // no session: sent to sign in
  await shot(page, '01-sign-in');
  await page.fill('#api_key', `rex_${'0'.repeat(48)}`);
  await Promise.all([page.waitForURL('**/ui/sign-in?error=invalid'), page.click('button[type=submit]')]);
  assert.match(await page.textContent('#error'), /not valid/);
  await context.close();
});

test('signing in keeps the key in an HttpOnly, SameSite=Strict session cookie', async () => {
  a = await signIn(browser, KEY_A);
  assert.equal(await a.page.textContent('#tenant'), 'acme');
  const cookies = await a.context.cookies();
  const session = cookies.find((c) => c.name === 'rex_session');
  assert.ok(session, 'session cookie set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(session.secure, false, 'plain http in the test: not Secure');
  // the page's scripts cannot read it
  assert.equal(await a.page.evaluate(() => document.cookie.includes('rex_session')), false);
});

test('a mission started from the page turns green live without reloading', async () => {
  const { page } = a;
  await page.goto('/ui/');
  await page.selectOption('#start-definition', 'ui-e2e-steps');
  await page.fill('#start-input', '{}');
  await Promise.all([page.waitForURL('**/ui/missions/*'), page.click('#start-submit')]);
  missionA = page.url().split('/').pop();
  await page.waitForSelector('#dag g.node[data-step="report"]');
  // mark this document, and record every colour change of the graph from now on
  await page.evaluate(() => {
    window.__sameDocument = true;
    window.__changes = [];
    new MutationObserver((records) => {
      for (const r of records) window.__changes.push(`${r.target.dataset.step}:${r.target.dataset.status}`);
    }).observe(document.getElementById('dag'), { subtree: true, attributes: true, attributeFilter: ['data-status'] });
  });
  const first = await page.$$eval('#dag g.node', (ns) => ns.map((n) => n.dataset.status));
  assert.ok(first.some((s) => s !== 'succeeded'), `not finished at first: ${first}`);
  // a timer shown with its due time while cool_down waits (it waits 2 s)
  await page.waitForSelector('#dag g.node[data-step="cool_down"][data-status="delayed"] .timer', { timeout: 15000 });
  assert.match(await page.textContent('#dag g.node[data-step="cool_down"] .timer'), /due|delay/);
  await shot(page, '03-mission-running');
  await page.waitForFunction(() => [...document.querySelectorAll('#dag g.node')].every((n) => n.dataset.status === 'succeeded'), null, { timeout: 30000 });
  await page.waitForSelector('#mission-status[data-status="succeeded"]');
  const changes = await page.evaluate(() => window.__changes);
  for (const step of ['enrich', 'score', 'cool_down', 'report']) {
    assert.ok(changes.includes(`${step}:succeeded`), `${step} turned green live: ${changes}`);
  }
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page did not reload');
  assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation').length), 1);
  // the timeline shows attempts with durations and outputs
  await page.waitForSelector('#attempts-body tr:nth-child(5)');
  assert.equal(await page.locator('#steps-body tr[data-status="succeeded"]').count(), 5);
  await shot(page, '04-mission-succeeded');
});

test('the missions list shows the mission live, with its progress and filters', async () => {
  const { page } = a;
  await page.goto('/ui/?status=succeeded');
  const row = page.locator(`tr[data-mission="${missionA}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /ui-e2e-steps/);
  assert.match(await row.textContent(), /5\/5/);
  assert.match(await row.textContent(), /acme/);
  await page.selectOption('#f-status', 'failed');
  await until('the filter to apply', async () => (await page.locator(`tr[data-mission="${missionA}"]`).count()) === 0);
  await page.selectOption('#f-status', '');
  await row.waitFor();
  await shot(page, '02-missions');
});

test('a running mission is cancelled after confirmation', async () => {
  const { page } = a;
  const started = await api(KEY_A, 'POST', '/v1/missions', { definition: 'ui-e2e-waiter', input: {} });
  assert.equal(started.status, 201);
  const id = started.body.id;
  await page.goto(`/ui/missions/${id}`);
  await page.waitForSelector('#dag g.node[data-step="reply"][data-status="waiting"]', { timeout: 15000 });
  await page.click('#cancel');
  await page.waitForSelector('dialog#confirm[open]');
  await shot(page, '05-cancel-confirm');
  await page.fill('#cancel-reason', 'e2e: stop waiting');
  await page.click('#confirm-ok');
  await page.waitForSelector('#mission-status[data-status="cancelled"]', { timeout: 15000 });
  const r = await api(KEY_A, 'GET', `/v1/missions/${id}`);
  assert.equal(r.body.status, 'cancelled');
  await shot(page, '06-mission-cancelled');
  waiterId = id;
});

test('a cancelled mission is retried from a step, then steered by a signal', async () => {
  const { page } = a;
  await page.goto(`/ui/missions/${waiterId}`);
  await page.click('#retry');
  await page.waitForSelector('dialog#confirm[open]');
  await page.selectOption('#retry-from', 'first');
  await page.click('#confirm-ok');
  await page.waitForSelector('#dag g.node[data-step="reply"][data-status="waiting"]', { timeout: 15000 });
  await page.waitForSelector('#signal');
  await page.click('#signal');
  await page.waitForSelector('dialog#confirm[open]');
  await page.fill('#signal-name', 'lead.replied');
  await page.fill('#signal-payload', '{"positive": true}');
  await page.click('#confirm-ok');
  await page.waitForSelector('#mission-status[data-status="succeeded"]', { timeout: 15000 });
  await page.waitForSelector('#dag g.node[data-step="after"][data-status="succeeded"]');
  const r = await api(KEY_A, 'GET', `/v1/missions/${waiterId}`);
  assert.equal(r.body.status, 'succeeded');
  // the first run's attempts and the retry's are both in the timeline
  assert.ok(r.body.attempts.filter((x) => x.step === 'first').length >= 1);
});

test('a change without the CSRF token is refused (403) even with the session cookie', async () => {
  const { page } = a;
  const r = await page.evaluate(async (id) => {
    const res = await fetch(`/v1/missions/${id}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    return { status: res.status, body: await res.json() };
  }, missionA);
  assert.equal(r.status, 403);
  assert.equal(r.body.code, 'csrf_failed');
});

test('a domain is added and paused from the domain pool', async () => {
  const { page } = a;
  await page.goto('/ui/domains');
  await page.fill('#new-domain', 'e2e-mail.example.com');
  await page.click('#add-domain button[type=submit]');
  const card = page.locator('section[data-domain="e2e-mail.example.com"]');
  await card.waitFor();
  await page.selectOption('#mb-domain', { label: 'e2e-mail.example.com' });
  await page.fill('#mb-address', 'ana@e2e-mail.example.com');
  await page.click('#add-mailbox button[type=submit]');
  await card.locator('tr[data-mailbox="ana@e2e-mail.example.com"]').waitFor();
  await card.locator('button[data-action="pause"]').first().click();
  await page.waitForSelector('dialog#confirm[open]');
  await page.fill('#pause-reason', 'e2e: bounce spike');
  await page.click('#confirm-ok');
  await page.waitForSelector('section[data-domain="e2e-mail.example.com"][data-paused="true"]');
  const list = await api(KEY_A, 'GET', '/v1/domains');
  const d = list.body.items.find((x) => x.domain === 'e2e-mail.example.com');
  assert.equal(d.paused, true);
  assert.equal(d.paused_reason, 'e2e: bounce spike');
  await shot(page, '07-domains');
});

test('the agents page lists every agent with its queue, live', async () => {
  const { page } = a;
  await page.goto('/ui/agents');
  await page.waitForSelector('#agents-body tr[data-agent="sleep"]');
  const stamp1 = await page.textContent('.muted.small');
  await until('a live refresh', async () => (await page.locator('#agents-body tr[data-agent="sleep"] svg').count()) === 1);
  assert.ok(stamp1 !== null);
  await shot(page, '08-agents');
});

test('campaign analytics show the funnel, variants, trends and recommendations', async () => {
  const { page } = a;
  await page.goto('/ui/campaigns');
  await page.waitForSelector('h1');
  await shot(page, '09-campaigns');
  const list = await api(KEY_A, 'GET', '/v1/campaigns');
  assert.ok(list.body.items.length > 0, 'the seeded demo campaign is listed');
  const name = list.body.items[0].name;
  await page.click(`tr[data-campaign="${name}"] a`);
  await page.waitForSelector('#funnel svg');
  const report = await api(KEY_A, 'GET', `/v1/campaigns/${encodeURIComponent(name)}/report`);
  assert.ok(report.body.funnel.sent > 0, JSON.stringify(report.body.funnel));
  assert.match(await page.textContent('#funnel'), new RegExp(`sent ${report.body.funnel.sent}`));
  await page.waitForSelector('#trends svg');
  await shot(page, '10-campaign-report');
});

test('a second tenant sees none of the first tenant\'s data', async () => {
  const b = await signIn(browser, KEY_B);
  try {
    assert.equal(await b.page.textContent('#tenant'), 'globex');
    await b.page.waitForSelector('#missions-body tr');
    assert.equal(await b.page.locator(`tr[data-mission="${missionA}"]`).count(), 0);
    await b.page.goto(`/ui/missions/${missionA}`);
    await b.page.waitForSelector('[data-testid="error"]');
    assert.match(await b.page.textContent('h1'), /Not found/);
    await shot(b.page, '11-other-tenant-refused');
    const r = await b.page.evaluate(async (id) => (await fetch(`/v1/missions/${id}`)).status, missionA);
    assert.equal(r, 404);
    const events = await b.page.evaluate(async (id) => (await fetch(`/v1/missions/${id}/events`)).status, missionA);
    assert.equal(events, 404);
    const domains = await api(KEY_B, 'GET', '/v1/domains');
    assert.ok(!domains.body.items.some((d) => d.domain === 'e2e-mail.example.com'));
    const campaigns = await api(KEY_A, 'GET', '/v1/campaigns');
    const name = campaigns.body.items[0].name;
    const report = await b.page.evaluate(async (n) => (await fetch(`/v1/campaigns/${encodeURIComponent(n)}/report`)).status, name);
    assert.equal(report, 404);
  } finally {
    await b.context.close();
  }
});

test('pages fit a phone and can be used by keyboard', async () => {
  const phone = await signIn(browser, KEY_A, { width: 390, height: 844 });
  try {
    for (const [path, name] of [['/ui/', '12-phone-missions'], [`/ui/missions/${missionA}`, '13-phone-mission'], ['/ui/domains', '14-phone-domains']]) {
      await phone.page.goto(path);
      await phone.page.waitForSelector('main h1');
      await phone.page.waitForTimeout(300);
      const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${path} overflows the phone by ${overflow}px`);
      await shot(phone.page, name);
    }
    await phone.page.goto('/ui/');
    await phone.page.waitForSelector('#missions-body tr');
    await phone.page.keyboard.press('Tab');
    assert.equal(await phone.page.evaluate(() => document.activeElement.className), 'skip');
    // the mission link is reachable with Tab and opens with Enter
    let found = false;
    for (let i = 0; i < 40 && !found; i++) {
      await phone.page.keyboard.press('Tab');
      found = await phone.page.evaluate((id) => document.activeElement.getAttribute('href') === `/ui/missions/${id}`, missionA);
    }
    assert.ok(found, 'mission link reachable by keyboard');
    // the list refreshes every 2 s; the focus stays on the link
    await phone.page.waitForTimeout(2500);
    assert.equal(await phone.page.evaluate(() => document.activeElement.getAttribute('href')), `/ui/missions/${missionA}`);
    await Promise.all([phone.page.waitForURL(`**/ui/missions/${missionA}`), phone.page.keyboard.press('Enter')]);
  } finally {
    await phone.context.close();
  }
});

test('signing out clears the session', async () => {
  const { page, context } = a;
  await page.goto('/ui/');
  await page.waitForSelector('#sign-out');
  await Promise.all([page.waitForURL('**/ui/sign-in?error=signed_out'), page.click('#sign-out')]);
  assert.equal((await context.cookies()).some((c) => c.name === 'rex_session' && c.value), false);
  const r = await page.evaluate(async () => (await fetch('/v1/missions')).status);
  assert.equal(r, 401);
  await context.close();
});
