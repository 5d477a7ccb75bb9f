// Real Yjs v1 updates for tests/unit/test_yupdate.py, made with the stock `yjs` package.
//
// Usage: node tests/interop/make_update_fixtures.mjs   (prints one JSON document on stdout)
//
// Every case is an update built on the Koprade board contract (docs/protocol.md §4) plus a
// few cases for the remaining content kinds, with what yjs itself reads back from it
// (`Y.decodeUpdate`): every struct's id, length, kind, origins, parent, parentSub and content
// values, and the delete set. Values that JSON cannot carry are tagged:
//   {"$undefined": true}   {"$bytes": "<hex>"}   {"$bigint": "<decimal>"}
// Output: {"yjs": version, "cases": [{name, update: hex, structs: [...], deletes: [...],
//          facts: {...}}]}; `facts` are case-specific expectations stated by this script.
//
// Client ids and timestamps are fixed so the output is deterministic.

import { readFileSync } from 'node:fs'
import * as Y from 'yjs'

const yjsVersion = JSON.parse(
  readFileSync(new URL('./node_modules/yjs/package.json', import.meta.url), 'utf8')
).version

const hex = (bytes) => Buffer.from(bytes).toString('hex')

const tagged = (value) => {
  if (value === undefined) return { $undefined: true }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('non-finite numbers are not used here')
    return value
  }
  if (typeof value === 'bigint') return { $bigint: value.toString() }
  if (value instanceof Uint8Array) return { $bytes: hex(value) }
  if (Array.isArray(value)) return value.map(tagged)
  if (typeof value === 'object') {
    const out = {}
    for (const [k, v] of Object.entries(value)) out[k] = tagged(v)
    return out
  }
  throw new Error(`cannot describe ${typeof value}`)
}

const idOf = (id) => (id === null ? null : { client: id.client, clock: id.clock })

const contentOf = (content) => {
  if (content instanceof Y.ContentDeleted) return ['deleted', null]
  if (content instanceof Y.ContentJSON) return ['json', content.arr.map(tagged)]
  if (content instanceof Y.ContentBinary) return ['binary', [tagged(content.content)]]
  if (content instanceof Y.ContentString) return ['string', [content.str]]
  if (content instanceof Y.ContentEmbed) return ['embed', [tagged(content.embed)]]
  if (content instanceof Y.ContentFormat) return ['format', [content.key, tagged(content.value)]]
  if (content instanceof Y.ContentAny) return ['any', content.arr.map(tagged)]
  if (content instanceof Y.ContentDoc) return ['doc', [content.doc.guid, tagged(content.opts)]]
  if (content instanceof Y.ContentType) {
    // what the type writes after the content ref: its type ref, and a name for XML nodes/hooks
    const written = []
    content.type._write({
      writeTypeRef: (ref) => written.push(ref),
      writeKey: (key) => written.push(key)
    })
    return ['type', written]
  }
  throw new Error(`unknown content ${content.constructor.name}`)
}

const describeStruct = (s) => {
  const base = { client: s.id.client, clock: s.id.clock, length: s.length }
  if (s instanceof Y.GC) return { ...base, kind: 'gc' }
  if (s instanceof Y.Skip) return { ...base, kind: 'skip' }
  if (!(s instanceof Y.Item)) throw new Error(`unknown struct ${s.constructor.name}`)
  const [content, values] = contentOf(s.content)
  const parent = s.parent
  return {
    ...base,
    kind: 'item',
    content,
    origin: idOf(s.origin),
    right_origin: idOf(s.rightOrigin),
    parent_root: typeof parent === 'string' ? parent : null,
    parent_item: parent instanceof Y.ID ? idOf(parent) : null,
    parent_sub: s.parentSub,
    values
  }
}

const cases = []

const addCase = (name, update, facts = {}) => {
  const { structs, ds } = Y.decodeUpdate(update)
  const deletes = []
  for (const [client, items] of ds.clients) {
    for (const item of items) deletes.push({ client, clock: item.clock, length: item.len })
  }
  cases.push({ name, update: hex(update), structs: structs.map(describeStruct), deletes, facts })
}

/** The update of exactly one transaction running `fn`. */
const capture = (doc, fn) => {
  const updates = []
  const onUpdate = (update) => updates.push(update)
  doc.on('update', onUpdate)
  try {
    doc.transact(fn)
  } finally {
    doc.off('update', onUpdate)
  }
  if (updates.length !== 1) throw new Error(`expected one update, got ${updates.length}`)
  return updates[0]
}

const newDoc = (clientID) => {
  const doc = new Y.Doc()
  doc.clientID = clientID
  return doc
}

// --- the board contract -------------------------------------------------------------------

const CLIENT_A = 3000000001 // > 2**31: multi-byte varuints
const CLIENT_B = 17
const CREATED = 1763900000123 // ms since epoch: a float64 in lib0's writeAny

const board = newDoc(CLIENT_A)
const cards = board.getMap('cards')
const clusters = board.getMap('clusters')

const makeCard = (text, { x, y, color = '#ffd966', author = 'p-anna', created = CREATED }) => {
  const card = new Y.Map()
  card.set('text', new Y.Text(text))
  card.set('x', x)
  card.set('y', y)
  card.set('color', color)
  card.set('author', author)
  card.set('created', created)
  return card
}

addCase(
  'add_card',
  capture(board, () => cards.set('card-1', makeCard('Vairāk soliņu', { x: 120, y: -40.5 }))),
  {
    root: 'cards',
    card: 'card-1',
    keys: ['text', 'x', 'y', 'color', 'author', 'created'],
    text: 'Vairāk soliņu'
  }
)

const card1 = cards.get('card-1')
const text1 = card1.get('text')

addCase(
  'edit_text_insert',
  capture(board, () => {
    text1.insert(0, '» ') // right origin only
    text1.insert(5, 'ABC') // origin and right origin
    text1.insert(text1.length, '!') // origin only
  }),
  { text: text1.toString() }
)

addCase(
  'edit_text_delete',
  capture(board, () => text1.delete(2, 4)),
  { text: text1.toString(), deleted: 4 }
)

addCase(
  'move_card',
  capture(board, () => {
    card1.set('x', 300)
    card1.set('y', 75.25)
  }),
  { keys: ['x', 'y'], x: 300, y: 75.25 }
)

addCase(
  'set_cluster',
  capture(board, () => card1.set('cluster', 'cluster-1')),
  { key: 'cluster', value: 'cluster-1' }
)

addCase('remove_cluster', capture(board, () => card1.delete('cluster')), { key: 'cluster' })

addCase(
  'set_cluster_again',
  capture(board, () => card1.set('cluster', 'cluster-2')),
  { key: 'cluster', value: 'cluster-2' }
)

addCase(
  'add_cluster',
  capture(board, () => {
    const cluster = new Y.Map()
    cluster.set('title', new Y.Text('Pieejams transports'))
    cluster.set('x', 40)
    cluster.set('y', 60)
    cluster.set('w', 640)
    cluster.set('h', 480)
    clusters.set('cluster-1', cluster)
  }),
  { root: 'clusters', cluster: 'cluster-1', keys: ['title', 'x', 'y', 'w', 'h'] }
)

addCase(
  'meta_write',
  capture(board, () => {
    const meta = board.getMap('meta')
    meta.set('phase', 'vote')
    meta.set('round', 2)
  }),
  { root: 'meta', keys: ['phase', 'round'] }
)

const UNICODE = 'Ā e\u0301 👩‍👩‍👧 𝄞 👍🏽 ok' // non-BMP characters and a combining mark
addCase(
  'unicode_text',
  capture(board, () => cards.set('card-2', makeCard(UNICODE, { x: 1, y: 2 }))),
  { text: UNICODE, utf16_length: UNICODE.length, code_points: [...UNICODE].length }
)

const text2 = cards.get('card-2').get('text')
addCase(
  'unicode_insert_after_astral',
  capture(board, () => text2.insert(UNICODE.indexOf('𝄞') + 2, '♪')), // after the surrogate pair
  { text: text2.toString() }
)

// the card's items are garbage collected (GC structs), the card item becomes ContentDeleted
addCase('delete_card', capture(board, () => cards.delete('card-2')), { card: 'card-2' })
addCase('full_state_after_delete', Y.encodeStateAsUpdate(board))

// what a reconnecting client sends in sync step 2: the diff against a state vector
const stateBefore = Y.encodeStateVector(board)
board.transact(() => {
  card1.set('color', '#9fc5e8')
  text1.insert(0, 'Jauns: ')
})
addCase('diff_since_state_vector', Y.encodeStateAsUpdate(board, stateBefore))

// --- every kind of value in a map (ContentAny, ContentBinary, ContentDoc) --------------------

const values = newDoc(4294967295) // the largest uint32 client id
const vmap = values.getMap('cards')
addCase(
  'any_values',
  capture(values, () => {
    const card = new Y.Map()
    vmap.set('card-v', card)
    card.set('nested', {
      list: [1, -2, 3.5, 0.1, -1e300, true, false, null, 'ü', { deep: { deeper: [] } }],
      empty: {},
      'key with spaces': 'x'
    })
    card.set('neg', -123456789)
    card.set('f32', 1e10) // an integer beyond 2**31 that fits a float32
    card.set('f64', 2 ** 40 + 0.5)
    card.set('negzero', -0)
    card.set('big', 2n ** 62n)
    card.set('undef', undefined)
    card.set('null', null)
    card.set('bool', false)
    card.set('bytes_in_any', { data: new Uint8Array([9, 8, 7]) })
  })
)
addCase('binary_value', capture(values, () => vmap.set('bin', new Uint8Array([0, 1, 2, 255]))))
addCase(
  'array_push',
  capture(values, () => values.getArray('list').push([1, 'two', { three: 3 }, [4]])),
  { root: 'list', count: 4 }
)
addCase(
  'subdocument',
  capture(values, () => vmap.set('sub', new Y.Doc({ guid: 'sub-guid-1', autoLoad: true }))),
  { guid: 'sub-guid-1' }
)

// --- rich text and XML types (ContentFormat, ContentEmbed, named type refs) ----------------

const rich = newDoc(99)
addCase(
  'rich_text',
  capture(rich, () => {
    const text = rich.getText('rich')
    text.insert(0, 'bold', { bold: true })
    text.insertEmbed(4, { image: 'x.png' })
    text.insert(5, ' plain')
  })
)
addCase(
  'xml_types',
  capture(rich, () => {
    const fragment = rich.getXmlFragment('xml')
    const element = new Y.XmlElement('p')
    element.setAttribute('class', 'lead')
    fragment.insert(0, [element, new Y.XmlText('t'), new Y.XmlHook('hook-name')])
  })
)

// --- merged updates: two clients, and a gap (Skip) -------------------------------------------

const docA = newDoc(CLIENT_A)
const docB = newDoc(CLIENT_B)
const fromA = capture(docA, () => docA.getMap('cards').set('a', makeCard('from A', { x: 1, y: 1 })))
const fromB = capture(docB, () => docB.getMap('clusters').set('b', new Y.Map()))
const fromB2 = capture(docB, () => docB.getMap('clusters').delete('b'))
addCase('merged_two_clients', Y.mergeUpdates([fromA, fromB, fromB2]), {
  clients: [CLIENT_A, CLIENT_B]
})

const gappy = newDoc(CLIENT_B)
const gm = gappy.getMap('meta')
const u1 = capture(gappy, () => gm.set('one', 1))
capture(gappy, () => gm.set('two', 2))
const u3 = capture(gappy, () => gm.set('three', 3))
addCase('merged_with_gap', Y.mergeUpdates([u1, u3]))

addCase('empty_update', Y.encodeStateAsUpdate(new Y.Doc()))

process.stdout.write(JSON.stringify({ yjs: yjsVersion, cases }))
