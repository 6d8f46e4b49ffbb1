// Mermaid's own parser, as a job summary's renderer runs it, for checking the diagrams we write.
import DOMPurify from 'dompurify'

export interface ParsedFlowchart {
  /** Node ids in the order of their first appearance, with their label as a browser shows it. */
  nodes: { id: string; label: string; link?: string }[]
  edges: { from: string; to: string; label: string }[]
  /** Class names applied to nodes, by node id. */
  classes: Record<string, string[]>
}

type MermaidModule = typeof import('mermaid')
let loading: Promise<MermaidModule['default']> | undefined

function loadMermaid(): Promise<MermaidModule['default']> {
  // Mermaid passes every label through DOMPurify, which needs a browser's DOM; under Node it is an
  // object without methods. What is checked here is how Mermaid reads the text, not how the
  // browser sanitizes the HTML it makes of it, so the labels pass through unchanged.
  Object.assign(DOMPurify, { addHook: () => undefined, sanitize: (text: string) => text })
  loading ??= import('mermaid').then((module) => module.default)
  return loading
}

const NAMED: Record<string, string> = { quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" }

/**
 * A label as the browser shows it: Mermaid keeps its entity codes as placeholders while parsing
 * and turns them into HTML entities, which the browser decodes.
 */
function shown(text: string): string {
  return text
    .replace(/\ufb02\u00b0\u00b0/g, '&#')
    .replace(/\ufb02\u00b0/g, '&')
    .replace(/\u00b6\u00df/g, ';')
    .replace(/&(#\d+|\w+);/g, (entity, name: string) =>
      name.startsWith('#') ? String.fromCodePoint(Number(name.slice(1))) : (NAMED[name] ?? entity)
    )
}

/** Parses a flowchart as Mermaid does; throws Mermaid's error when it does not parse. */
export async function parseFlowchart(text: string): Promise<ParsedFlowchart> {
  const mermaid = await loadMermaid()
  // parse registers the diagram types; getDiagramFromText then hands out the parsed graph.
  await mermaid.parse(text)
  const diagram = await mermaid.mermaidAPI.getDiagramFromText(text)
  const db = diagram.db as unknown as {
    getVertices(): Map<string, { id: string; text?: string; link?: string; classes: string[] }>
    getEdges(): { start: string; end: string; text?: string }[]
  }
  const vertices = [...db.getVertices().values()]
  return {
    nodes: vertices.map((vertex) => ({
      id: vertex.id,
      label: shown(vertex.text ?? ''),
      ...(vertex.link !== undefined ? { link: vertex.link } : {})
    })),
    edges: db
      .getEdges()
      .map((edge) => ({ from: edge.start, to: edge.end, label: shown(edge.text ?? '') })),
    classes: Object.fromEntries(vertices.map((vertex) => [vertex.id, [...vertex.classes]]))
  }
}

/** The body of the one ```mermaid block of a Markdown text. */
export function mermaidBlock(markdown: string): string {
  const blocks = [...markdown.matchAll(/^```mermaid\n([\s\S]*?)\n```$/gm)]
  if (blocks.length !== 1) throw new Error(`expected one mermaid block, found ${blocks.length}`)
  return (blocks[0] as RegExpMatchArray)[1] as string
}
