// Writes a small, realistic LibreChat database through LibreChat's own data layer
// (@librechat/data-schemas: createModels + createMethods), one phase per call, and prints on
// stdout a JSON record of what it meant to write, for tests/test_contract.py's oracle.
//
//   node librechat_writer.mjs PHASE --uri MONGODB_URI --db DATABASE --context FILE
//
// PHASE is seed, steady, delete or import. The context file carries the ids one phase leaves
// for the next (users, agents, conversations); seed creates it. Every document is written by a
// method of the package, never by a raw insert: the point is to see documents exactly as
// LibreChat writes them.
//
// The record lists, per document the phase meant to create, the labels and amounts it should
// count under (see RECORD below); it is written from what the calls were asked to do and
// LibreChat's documented semantics (prices from the package's own rate tables, x1.15 for a
// cancelled completion), never read back from the database.
//
// Where the issue names a method 0.0.71 lacks: auto refill has no method of its own, it is
// applied inside reserveBalance (a due refill when a reservation would overdraw), so the
// script reserves to trigger it; credits granted by an admin go through createTransaction
// (tokenType "credits"), as LibreChat's add-balance script does; the conversation import is
// bulkSaveConvos + bulkSaveMessages(messages, true), as LibreChat's importer calls them.

import crypto from 'node:crypto';
import fs from 'node:fs';
import mongoose from 'mongoose';
import { CANCEL_RATE, createMethods, createModels } from '@librechat/data-schemas';
import { RetentionMode, feedbackSchema } from 'librechat-data-provider';

const DAY = 86_400_000;

// ---- the stand-ins for what @librechat/api injects into createMethods ----------------------
// LibreChat's findMatchingPattern picks the rate-table key contained in the model name; this one
// takes the longest such key, so "gpt-4o-mini" prices as gpt-4o-mini, not gpt-4o.
function findMatchingPattern(model, values) {
  const lower = String(model).toLowerCase();
  let best;
  for (const key of Object.keys(values)) {
    if (lower.includes(key) && (best === undefined || key.length > best.length)) best = key;
  }
  return best;
}
const matchModelName = (model) => model;

// ---- arguments, connection, models ----------------------------------------------------------
function parseArgs(argv) {
  const [phase, ...rest] = argv;
  const opts = {};
  for (let i = 0; i < rest.length; i += 2) {
    if (!rest[i].startsWith('--') || rest[i + 1] === undefined) {
      throw new Error(`bad argument ${rest[i]}`);
    }
    opts[rest[i].slice(2)] = rest[i + 1];
  }
  if (!PHASES[phase]) throw new Error(`unknown phase ${phase}; one of ${Object.keys(PHASES)}`);
  if (!opts.uri || !opts.db || !opts.context) throw new Error('--uri, --db and --context are required');
  return { phase, ...opts };
}

// ---- the record ------------------------------------------------------------------------------
// RECORD: {phase, finished_ms,
//   messages: [{endpoint, role, model, error, unfinished, finish_reason, agent_id, tools}],
//     model is the LLM the message counts under (an agent's configured model for agent
//     messages, "none" for user messages); tools: [[tool, mcp_server, failed]]
//   spends: [{model, context, token_type, tokens, kinds, usd, agent_id}]  one per transaction
//   credits: [{context, amount}], conversations: [{endpoint}], files: [{source, context, bytes}],
//   users: [{provider}], notes: [..]}
function newRecord(phase) {
  return { phase, messages: [], spends: [], credits: [], conversations: [], files: [],
    users: [], notes: [] };
}

class Writer {
  constructor(methods, ctx, record) {
    this.m = methods;
    this.ctx = ctx;
    this.rec = record;
  }

  async user(key, data, balanceConfig, disableTTL = true) {
    const id = await this.m.createUser(data, balanceConfig, disableTTL);
    this.ctx.users[key] = String(id);
    this.rec.users.push({ provider: data.provider ?? 'local' });
    return String(id);
  }

  /** A new conversation saved as LibreChat saves it on its first message. */
  async convo(key, userKey, fields, options = {}) {
    const conversationId = crypto.randomUUID();
    this.ctx.convos[key] = { id: conversationId, user: userKey, ...fields,
      interfaceConfig: options.interfaceConfig };
    await this.m.saveConvo({ userId: this.ctx.users[userKey], isTemporary: options.isTemporary,
      interfaceConfig: options.interfaceConfig },
      { conversationId, title: 'New Chat', ...fields }, { context: 'contract test' });
    this.rec.conversations.push({ endpoint: fields.endpoint ?? 'none' });
    return conversationId;
  }

  /** One user message and the assistant's answer in a conversation, then the conversation
   *  saved again (its messages list and title). `answer` holds the answer's own fields;
   *  `counts` overrides what the record expects where LibreChat's fields differ from it. */
  async turn(convoKey, answer = {}, options = {}) {
    const convo = this.ctx.convos[convoKey];
    const userId = this.ctx.users[convo.user];
    const ctx = { userId, isTemporary: options.isTemporary,
      interfaceConfig: convo.interfaceConfig };
    const question = crypto.randomUUID();
    await this.m.saveMessage(ctx, {
      messageId: question, conversationId: convo.id, parentMessageId: options.parent
        ?? '00000000-0000-0000-0000-000000000000', sender: 'User', text: 'a question',
      isCreatedByUser: true, endpoint: convo.endpoint, tokenCount: 12, model: null,
    }, { context: 'contract test: question' });
    this.message(convo.endpoint, 'user', 'none', {});
    const reply = crypto.randomUUID();
    const model = answer.model ?? convo.model;
    await this.m.saveMessage(ctx, {
      messageId: reply, conversationId: convo.id, parentMessageId: question,
      sender: answer.sender ?? 'Assistant', text: answer.text ?? 'an answer',
      isCreatedByUser: false, endpoint: convo.endpoint, model, tokenCount: 40,
      ...answer.fields,
    }, { context: 'contract test: answer' });
    const agent = convo.endpoint === 'agents' ? this.ctx.agents[model] : undefined;
    this.message(convo.endpoint, 'assistant', agent ? agent.model : model, {
      ...answer.counts, agent_id: agent ? model : null });
    await this.m.saveConvo(ctx, { conversationId: convo.id, endpoint: convo.endpoint,
      ...(options.title ? { title: options.title } : {}) }, { context: 'contract test: turn' });
    return { question, reply };
  }

  message(endpoint, role, model, counts) {
    this.rec.messages.push({
      endpoint: endpoint ?? 'none', role, model, error: counts.error ?? false,
      unfinished: counts.unfinished ?? false,
      finish_reason: role === 'assistant' ? counts.finish_reason ?? 'none' : null,
      agent_id: counts.agent_id ?? null, tools: counts.tools ?? [],
    });
  }

  agentOf(convoKey) {
    const convo = convoKey ? this.ctx.convos[convoKey] : undefined;
    return convo && convo.agent_id && this.ctx.agents[convo.agent_id] ? convo.agent_id : null;
  }

  /** spendTokens: a prompt and a completion transaction at LibreChat's rates. */
  async spend(convoKey, userKey, model, context, prompt, completion) {
    const convo = convoKey ? this.ctx.convos[convoKey] : undefined;
    const tx = { user: this.ctx.users[userKey], conversationId: convo?.id, model, context,
      balance: { enabled: true } };
    await this.m.spendTokens(tx, { promptTokens: prompt, completionTokens: completion });
    const agent = this.agentOf(convoKey);
    const promptRate = this.m.getMultiplier({ model, tokenType: 'prompt', inputTokenCount: prompt });
    this.rec.spends.push({ model, context, token_type: 'prompt', tokens: prompt,
      kinds: { uncached_prompt: prompt }, usd: (prompt * promptRate) / 1e6, agent_id: agent });
    this.completion(model, context, completion, prompt, agent);
  }

  /** spendStructuredTokens: a cache-aware prompt (input, cache write, cache read). */
  async spendCached(convoKey, userKey, model, context, input, write, read, completion) {
    const convo = this.ctx.convos[convoKey];
    const tx = { user: this.ctx.users[userKey], conversationId: convo.id, model, context,
      balance: { enabled: true } };
    await this.m.spendStructuredTokens(tx, { promptTokens: { input, write, read },
      completionTokens: completion });
    const total = input + write + read;
    const rate = this.m.getMultiplier({ model, tokenType: 'prompt', inputTokenCount: total });
    const cacheRate = (cacheType) => this.m.getCacheMultiplier({ model, cacheType,
      inputTokenCount: total }) ?? rate;
    const usd = (input * rate + write * cacheRate('write') + read * cacheRate('read')) / 1e6;
    const agent = this.agentOf(convoKey);
    this.rec.spends.push({ model, context, token_type: 'prompt', tokens: total,
      kinds: { uncached_prompt: input, cache_write: write, cache_read: read }, usd,
      agent_id: agent });
    this.completion(model, context, completion, total, agent);
  }

  completion(model, context, tokens, promptTokens, agent) {
    const rate = this.m.getMultiplier({ model, tokenType: 'completion',
      inputTokenCount: promptTokens });
    let value = tokens * rate;
    // LibreChat bills a cancelled answer's completion at CANCEL_RATE, rounded to whole credits
    // towards zero (Math.ceil of the negative amount it stores).
    if (context === 'incomplete') value = -Math.ceil(-value * CANCEL_RATE);
    this.rec.spends.push({ model, context, token_type: 'completion', tokens,
      kinds: { completion: tokens }, usd: value / 1e6, agent_id: agent });
  }

  /** Feedback as LibreChat's API stores it, checked by its own schema first (a tag is a
   *  reason key that matches the rating). */
  async feedback(userKey, messageId, feedback) {
    await this.m.updateMessage(this.ctx.users[userKey], { messageId,
      feedback: feedbackSchema.parse(feedback) });
  }

  async file(userKey, key, fields) {
    const file_id = crypto.randomUUID();
    this.ctx.files[key] = file_id;
    await this.m.createFile({ user: this.ctx.users[userKey], file_id, object: 'file',
      filename: `${key}.bin`, filepath: `/uploads/${file_id}`, ...fields }, true);
    this.rec.files.push({ source: fields.source ?? 'local', context: fields.context ?? 'none',
      bytes: fields.bytes });
    return file_id;
  }
}

// ---- the phases --------------------------------------------------------------------------

const TOOL_FAILED = 'Error processing tool fetch_mcp_browser: the page did not load in time';

async function seed(w) {
  const { m, ctx } = w;
  // Users with balances (LibreChat creates the balance with the account in balance mode).
  await w.user('alice', { email: 'alice@example.org', name: 'Alice', username: 'alice',
    provider: 'local', emailVerified: true, role: 'USER', password: 'x'.repeat(60) },
  { enabled: true, startBalance: 5_000_000 });
  await w.user('bob', { email: 'bob@example.org', name: 'Bob', provider: 'google',
    googleId: 'g-1001', emailVerified: true, role: 'USER' },
  { enabled: true, startBalance: 20_000, autoRefillEnabled: true, refillIntervalValue: 1,
    refillIntervalUnit: 'days', refillAmount: 1_000_000 });
  await w.user('carol', { email: 'carol@example.org', name: 'Carol', provider: 'openid',
    openidId: 'oid-7', emailVerified: true, role: 'ADMIN' },
  { enabled: true, startBalance: 50_000_000 });
  await w.user('dave', { email: 'dave@example.org', name: 'Dave', provider: 'local',
    emailVerified: false, role: 'USER', password: 'y'.repeat(60) },
  { enabled: true, startBalance: 0 }, false); // an unverified sign-up: expiresAt, no balance
  await w.user('erin', { email: 'erin@example.org', name: 'Erin', provider: 'github',
    githubId: 'gh-42', emailVerified: true, role: 'USER' },
  { enabled: true, startBalance: 50_000 });

  // Sessions: two alive, one expired (the suite's mongod runs without its TTL monitor).
  await m.createSession(ctx.users.alice);
  await m.createSession(ctx.users.carol, { expiresIn: 3_600_000 });
  await m.createSession(ctx.users.bob, { expiration: new Date(Date.now() - 60_000) });

  // Agents with their LLMs; one with MCP tools, one updated to another model before use.
  const research = 'agent_contractResearch01';
  const writer = 'agent_contractWriter0001';
  await m.createAgent({ id: research, name: 'Research helper', provider: 'openAI',
    model: 'gpt-4o', author: ctx.users.carol, category: 'research',
    tools: ['web_search', 'search_issues_mcp_github', 'fetch_mcp_browser'] });
  await m.createAgent({ id: writer, name: 'Writer', provider: 'anthropic',
    model: 'claude-sonnet-4-5', author: ctx.users.carol, tools: [] });
  await m.updateAgent({ id: writer }, { model: 'claude-opus-4-5',
    description: 'writes long answers' }, { updatingUserId: ctx.users.carol });
  ctx.agents[research] = { model: 'gpt-4o' };
  ctx.agents[writer] = { model: 'claude-opus-4-5' };
  await m.createMCPServer({ config: { title: 'GitHub', type: 'streamable-http',
    url: 'http://127.0.0.1:1/mcp' }, author: ctx.users.carol });

  // openAI chat: two turns, a title, finish reasons.
  await w.convo('alice_gpt', 'alice', { endpoint: 'openAI', model: 'gpt-4o' });
  const first = await w.turn('alice_gpt', { fields: { finish_reason: 'stop' },
    counts: { finish_reason: 'stop' } });
  await w.spend('alice_gpt', 'alice', 'gpt-4o', 'message', 1200, 350);
  await w.spend('alice_gpt', 'alice', 'gpt-4o-mini', 'title', 150, 12);
  await w.turn('alice_gpt', { fields: { finish_reason: 'length' },
    counts: { finish_reason: 'length' } }, { parent: first.reply, title: 'Tides' });
  await w.spend('alice_gpt', 'alice', 'gpt-4o', 'message', 1800, 4096);
  await w.feedback('alice', first.reply, { rating: 'thumbsUp', tag: 'clear_well_written' });

  // anthropic chat: prompt caching (write, then read), a summary, a thumbs down with a tag.
  await w.convo('bob_claude', 'bob', { endpoint: 'anthropic', model: 'claude-sonnet-4-5' });
  const cached = await w.turn('bob_claude');
  await w.spendCached('bob_claude', 'bob', 'claude-sonnet-4-5', 'message', 300, 9000, 0, 500);
  await w.turn('bob_claude', {}, { parent: cached.reply });
  await w.spendCached('bob_claude', 'bob', 'claude-sonnet-4-5', 'message', 250, 0, 9000, 420);
  await w.spend('bob_claude', 'bob', 'claude-haiku-4-5', 'summarization', 5000, 300);
  await w.feedback('bob', cached.reply, { rating: 'thumbsDown', tag: 'not_matched',
    text: 'wrong topic' });
  ctx.deletable = 'bob_claude';

  // An agent with tools and MCP tools (one failing), its tool-call records, its spends.
  await w.convo('carol_agent', 'carol', { endpoint: 'agents', agent_id: research,
    model: research });
  const calls = [
    ['web_search', 'none', false, 'three results'],
    ['search_issues', 'github', false, '2 issues'],
    ['fetch', 'browser', true, TOOL_FAILED],
  ];
  const content = [{ type: 'text', text: 'looking it up' }, ...calls.map(([tool, server, , output], i) => ({
    type: 'tool_call', tool_call: { id: `call_${i}`, type: 'tool_call', progress: 1,
      name: server === 'none' ? tool : `${tool}_mcp_${server}`, args: '{}', output } }))];
  const agentTurn = await w.turn('carol_agent', { sender: 'Research helper', text: '',
    fields: { content }, counts: { tools: calls.map(([t, s, f]) => [t, s, f]) } });
  for (const [i] of calls.entries()) {
    await m.createToolCall({ conversationId: ctx.convos.carol_agent.id,
      messageId: agentTurn.reply, toolId: `call_${i}`, user: ctx.users.carol,
      result: calls[i][3] });
  }
  await w.spend('carol_agent', 'carol', 'gpt-4o', 'message', 2200, 640);
  await w.spend('carol_agent', 'carol', 'gpt-4o-mini', 'title', 180, 9);
  await w.feedback('carol', agentTurn.reply, { rating: 'thumbsUp', tag: 'accurate_reliable' });

  // The updated agent answers under its new LLM.
  await w.convo('carol_writer', 'carol', { endpoint: 'agents', agent_id: writer, model: writer });
  await w.turn('carol_writer', { sender: 'Writer' });
  await w.spend('carol_writer', 'carol', 'claude-opus-4-5', 'message', 900, 1500);

  // A cancelled answer: saved unfinished, its completion billed at LibreChat's cancel rate.
  await w.convo('alice_cancel', 'alice', { endpoint: 'openAI', model: 'gpt-4o-mini' });
  await w.turn('alice_cancel', { fields: { unfinished: true }, counts: { unfinished: true } });
  await w.spend('alice_cancel', 'alice', 'gpt-4o-mini', 'incomplete', 700, 333);

  // A provider error, saved as LibreChat saves it: error true and an error content part.
  await w.convo('bob_gemini', 'bob', { endpoint: 'google', model: 'gemini-2.5-flash' });
  await w.turn('bob_gemini', { text: '', fields: { error: true,
    content: [{ type: 'error', error: 'quota exceeded' }] }, counts: { error: true } });

  // A custom endpoint, and a temporary chat.
  await w.convo('erin_router', 'erin', { endpoint: 'OpenRouter', endpointType: 'custom',
    model: 'meta-llama/llama-3.1-70b-instruct' });
  await w.turn('erin_router');
  await w.spend('erin_router', 'erin', 'meta-llama/llama-3.1-70b-instruct', 'message', 400, 220);
  await w.convo('alice_temp', 'alice', { endpoint: 'openAI', model: 'gpt-4o-mini' },
    { isTemporary: true });
  await w.turn('alice_temp', {}, { isTemporary: true });
  await w.spend('alice_temp', 'alice', 'gpt-4o-mini', 'message', 90, 60);

  // A LibreChat whose retention mode dates every chat (0.8.6+): an expiredAt on a chat that
  // is not temporary.
  await w.convo('erin_retained', 'erin', { endpoint: 'openAI', model: 'gpt-4o-mini' },
    { interfaceConfig: { retentionMode: RetentionMode.ALL, generalChatRetention: 2160 } });
  await w.turn('erin_retained');
  await w.spend('erin_retained', 'erin', 'gpt-4o-mini', 'message', 120, 45);

  // An archived chat.
  await w.convo('erin_archived', 'erin', { endpoint: 'openAI', model: 'gpt-4o-mini' });
  await w.turn('erin_archived');
  await m.saveConvo({ userId: ctx.users.erin }, { conversationId: ctx.convos.erin_archived.id,
    isArchived: true }, { context: 'archive' });

  // Files: an attachment, an image, a RAG upload embedded in the vector store, an agent file.
  await w.file('alice', 'attachment', { bytes: 24_576, type: 'application/pdf',
    source: 'local', context: 'message_attachment', embedded: false,
    conversationId: ctx.convos.alice_gpt.id });
  await w.file('bob', 'image', { bytes: 183_201, type: 'image/png', source: 'local',
    context: 'message_attachment', width: 640, height: 480 });
  await w.file('carol', 'rag', { bytes: 1_048_576, type: 'text/plain', source: 'vectordb',
    context: 'message_attachment', embedded: true });
  await w.file('carol', 'agent_file', { bytes: 4_096, type: 'text/csv', source: 'local',
    context: 'agents' });

  // Credits: an admin grant, and an auto refill applied by a reservation that would overdraw
  // Bob's balance; one reservation of Alice's stays in flight.
  await m.createTransaction({ user: ctx.users.carol, tokenType: 'credits', context: 'admin',
    rawAmount: 2_000_000, balance: { enabled: true } });
  w.rec.credits.push({ context: 'admin', amount: 2_000_000 });
  // Bob's balance was last refilled two days ago (an account older than this database): his
  // daily refill is due.
  await m.upsertBalanceFields(ctx.users.bob, { lastRefill: new Date(Date.now() - 2 * DAY) });
  const refill = await m.reserveBalance({ user: ctx.users.bob, reservationId: 'r-bob-1',
    amount: 300_000, expiresAt: new Date(Date.now() + 600_000) });
  if (!refill?.reserved) throw new Error(`the auto refill did not happen: ${JSON.stringify(refill)}`);
  w.rec.credits.push({ context: 'autoRefill', amount: 1_000_000 });
  await m.releaseBalanceReservation({ user: ctx.users.bob, reservationId: 'r-bob-1',
    amount: 300_000 });
  const held = await m.reserveBalance({ user: ctx.users.alice, reservationId: 'r-alice-1',
    amount: 25_000, expiresAt: new Date(Date.now() + 3_600_000) });
  if (!held?.reserved) throw new Error('alice could not reserve');
  ctx.steady = 0;
}

async function steady(w) {
  const { ctx } = w;
  ctx.steady += 1;
  const n = ctx.steady;
  await w.turn('alice_gpt', { fields: { finish_reason: 'stop' },
    counts: { finish_reason: 'stop' } });
  await w.spend('alice_gpt', 'alice', 'gpt-4o', 'message', 2000 + n, 100 + n);
  await w.turn('bob_claude');
  await w.spendCached('bob_claude', 'bob', 'claude-sonnet-4-5', 'message', 40, 0, 9300, 80 + n);
  await w.turn('carol_agent', { sender: 'Research helper', fields: { content: [
    { type: 'tool_call', tool_call: { id: `call_s${n}`, type: 'tool_call', progress: 1,
      name: 'search_issues_mcp_github', args: '{}', output: 'none found' } }] },
  counts: { tools: [['search_issues', 'github', false]] } });
  await w.spend('carol_agent', 'carol', 'gpt-4o', 'message', 2500, 90);
  await w.user(`frank${n}`, { email: `frank${n}@example.org`, name: 'Frank', provider: 'ldap',
    ldapId: `f${n}`, emailVerified: true, role: 'USER' }, { enabled: true, startBalance: 1000 });
  await w.file(`frank${n}`, `upload${n}`, { bytes: 512 * n, type: 'image/jpeg',
    source: 'local', context: 'avatar' });
}

async function remove(w) {
  const { m, ctx } = w;
  // A user deletes a chat (with its messages and its feedback); another deletes a file. The
  // transactions stay, as in LibreChat. Counters must not go down.
  const convo = ctx.convos[ctx.deletable];
  await m.deleteConvos(ctx.users[convo.user], { conversationId: convo.id });
  await m.deleteFile(ctx.files.image);
  w.rec.notes.push(`deleted conversation ${ctx.deletable} and file image`);
  // Life goes on in the same run.
  await w.turn('erin_router');
  await w.spend('erin_router', 'erin', 'meta-llama/llama-3.1-70b-instruct', 'message', 300, 120);
}

/** LibreChat's conversation import: bulkSaveConvos with the original timestamps, then
 *  bulkSaveMessages(messages, true), which keeps each message's createdAt and gives it a new
 *  _id (so the job counts it now, and the finished days it belongs to change). */
async function importChats(w) {
  const { m, ctx } = w;
  const now = Date.now();
  const chats = [
    { user: 'alice', at: new Date(now - DAY), model: 'gpt-4o', turns: 3 },
    { user: 'bob', at: new Date(now - 27 * DAY), model: 'gpt-4o-mini', turns: 2 },
  ];
  const convos = [];
  const messages = [];
  for (const chat of chats) {
    const conversationId = crypto.randomUUID();
    const userId = ctx.users[chat.user];
    let parent = '00000000-0000-0000-0000-000000000000';
    for (let t = 0; t < chat.turns; t++) {
      for (const role of ['user', 'assistant']) {
        const messageId = crypto.randomUUID();
        const createdAt = new Date(chat.at.getTime() + (2 * t + (role === 'user' ? 0 : 1)) * 60_000);
        messages.push({ messageId, conversationId, parentMessageId: parent, user: userId,
          endpoint: 'openAI', isCreatedByUser: role === 'user', sender: role === 'user' ? 'User' : 'GPT-4',
          model: role === 'user' ? null : chat.model, text: `${role} text`, unfinished: false,
          error: false, isTemporary: false, createdAt, updatedAt: createdAt });
        w.message('openAI', role, role === 'user' ? 'none' : chat.model, {});
        parent = messageId;
      }
    }
    const last = new Date(chat.at.getTime() + 2 * chat.turns * 60_000);
    convos.push({ conversationId, user: userId, title: 'Imported chat', endpoint: 'openAI',
      model: chat.model, isArchived: false, isTemporary: false, createdAt: chat.at, updatedAt: last });
    w.rec.conversations.push({ endpoint: 'openAI' });
  }
  await m.bulkSaveConvos(convos);
  await m.bulkSaveMessages(messages, true);
}

const PHASES = { seed, steady, delete: remove, import: importChats };

// ---- main ------------------------------------------------------------------------------------
async function main() {
  const args = parseArgs(process.argv.slice(2));
  process.env.JWT_REFRESH_SECRET ||= crypto.randomBytes(16).toString('hex');
  const ctx = args.phase === 'seed'
    ? { users: {}, agents: {}, convos: {}, files: {} }
    : JSON.parse(fs.readFileSync(args.context, 'utf8'));
  await mongoose.connect(args.uri, { dbName: args.db, serverSelectionTimeoutMS: 10_000 });
  try {
    const models = createModels(mongoose);
    // Every collection and index, as LibreChat builds them at start-up.
    await Promise.all(Object.values(models).map((model) => model.init()));
    const methods = createMethods(mongoose, { findMatchingPattern, matchModelName });
    const record = newRecord(args.phase);
    await PHASES[args.phase](new Writer(methods, ctx, record));
    record.finished_ms = Date.now();
    fs.writeFileSync(args.context, JSON.stringify(ctx, null, 1));
    process.stdout.write(`${JSON.stringify(record)}\n`);
  } finally {
    await mongoose.disconnect();
  }
}

main().catch((err) => {
  process.stderr.write(`librechat_writer: ${err?.stack ?? err}\n`);
  process.exit(1);
});
