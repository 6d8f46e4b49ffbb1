/**
 * Finds where a JSON text goes wrong, with a position for a line and a column. V8's own messages
 * give a position only for some errors, and quote the input itself, which would put the payload
 * into the step's log.
 */
export function locateJsonError(text: string): { position: number; reason: string } | undefined {
  let i = 0
  const fail = (reason: string): never => {
    throw { position: i, reason }
  }
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++
  }
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length
    else fail(`unexpected ${describe()}`)
  }
  const describe = () => (i >= text.length ? 'end of input' : `character '${text[i]}'`)
  const string = () => {
    i++ // opening quote
    while (i < text.length && text[i] !== '"') {
      const char = text[i]!
      if (char === '\\') {
        const next = text[i + 1]
        if (next === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('invalid \\u escape')
          i += 6
        } else if (next !== undefined && '"\\/bfnrt'.includes(next)) i += 2
        else fail('invalid escape in string')
      } else if (char < ' ') fail('control character in string (use \\n, \\t)')
      else i++
    }
    if (i >= text.length) fail('unterminated string')
    i++
  }
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i))
    if (!match) fail(`unexpected ${describe()}`)
    i += match![0].length
  }
  const value = (): void => {
    space()
    const char = text[i]
    if (char === '{') {
      i++
      space()
      if (text[i] === '}') return void i++
      for (;;) {
        space()
        if (text[i] !== '"') fail(`expected a double-quoted property name, found ${describe()}`)
        string()
        space()
        if (text[i] !== ':') fail(`expected ':' after a property name, found ${describe()}`)
        i++
        value()
        space()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === '}') return void i++
        fail(`expected ',' or '}', found ${describe()}`)
      }
    }
    if (char === '[') {
      i++
      space()
      if (text[i] === ']') return void i++
      for (;;) {
        value()
        space()
        if (text[i] === ',') {
          i++
          space()
          if (text[i] === ']') fail("trailing comma before ']'")
          continue
        }
        if (text[i] === ']') return void i++
        fail(`expected ',' or ']', found ${describe()}`)
      }
    }
    if (char === '"') return string()
    if (char === 't') return literal('true')
    if (char === 'f') return literal('false')
    if (char === 'n') return literal('null')
    if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) return number()
    fail(`unexpected ${describe()}`)
  }
  try {
    value()
    space()
    if (i < text.length) fail(`unexpected ${describe()} after the JSON document`)
    return undefined
  } catch (error) {
    if (typeof error === 'object' && error !== null && 'position' in error) {
      return error as { position: number; reason: string }
    }
    throw error
  }
}
