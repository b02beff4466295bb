/**
 * A pass over MessagePack bytes, before decoding, that refuses what would
 * hurt the decoder: nesting deeper than a limit, and declared lengths that
 * the frame cannot hold (a 5-byte header may claim four billion items, and
 * the decoder would allocate for them). It allocates nothing and skips over
 * strings and binary data, so it costs little even for large frames.
 *
 * @module
 */

/** What a frame may contain. */
export interface DecodeLimits {
  /** Deepest nesting of arrays, maps and container extensions. */
  readonly maxDepth: number;
  /** Most items in one array, map (pairs count twice), Map or Set. */
  readonly maxLength: number;
}

/** Extension types whose data is itself MessagePack (Map, Set, Error, token). */
const CONTAINER_EXTS = new Set([2, 3, 5, 6]);
/** Every extension type the codec knows (-1 is MessagePack's timestamp). */
const KNOWN_EXTS = new Set([-1, 0, 1, 2, 3, 4, 5, 6]);

/** Undefined when `bytes` is within `limits`, else what is wrong. */
export function scanLimits(bytes: Uint8Array, limits: DecodeLimits): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  // Items still to read at each open level; the top level holds one value.
  const pending: number[] = [1];
  let pos = 0;
  const need = (n: number): boolean => pos + n <= end;
  while (pending.length > 0) {
    if (pending[pending.length - 1] === 0) {
      pending.pop();
      continue;
    }
    pending[pending.length - 1]!--;
    if (!need(1)) return "the message ends in the middle of a value";
    const head = bytes[pos++]!;
    let items = -1; // items of a container starting here, if it is one
    let skip = 0;
    if (head <= 0x7f || head >= 0xe0 || head === 0xc0 || head === 0xc2 || head === 0xc3) {
      continue;
    } else if (head >= 0x80 && head <= 0x8f) items = (head & 0x0f) * 2;
    else if (head >= 0x90 && head <= 0x9f) items = head & 0x0f;
    else if (head >= 0xa0 && head <= 0xbf) skip = head & 0x1f;
    else {
      switch (head) {
        case 0xc4:
        case 0xd9:
          if (!need(1)) return "truncated length";
          skip = bytes[pos++]!;
          break;
        case 0xc5:
        case 0xda:
          if (!need(2)) return "truncated length";
          skip = view.getUint16(pos);
          pos += 2;
          break;
        case 0xc6:
        case 0xdb:
          if (!need(4)) return "truncated length";
          skip = view.getUint32(pos);
          pos += 4;
          break;
        case 0xca:
          skip = 4;
          break;
        case 0xcb:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8: {
          if (!need(1)) return "truncated extension header";
          const type = view.getInt8(pos);
          if (!KNOWN_EXTS.has(type) || CONTAINER_EXTS.has(type)) {
            return `unknown extension type ${type}`;
          }
          skip = 1 + (1 << (head - 0xd4));
          break;
        }
        case 0xc7:
        case 0xc8:
        case 0xc9: {
          const width = head === 0xc7 ? 1 : head === 0xc8 ? 2 : 4;
          if (!need(width + 1)) return "truncated extension header";
          const size = width === 1
            ? bytes[pos]!
            : width === 2
            ? view.getUint16(pos)
            : view.getUint32(pos);
          pos += width;
          const type = view.getInt8(pos++);
          if (!KNOWN_EXTS.has(type)) return `unknown extension type ${type}`;
          if (CONTAINER_EXTS.has(type)) {
            if (!need(size)) return "an extension is longer than the message";
            items = 1; // its data is one nested value
          } else {
            skip = size;
          }
          break;
        }
        case 0xdc:
          if (!need(2)) return "truncated length";
          items = view.getUint16(pos);
          pos += 2;
          break;
        case 0xdd:
          if (!need(4)) return "truncated length";
          items = view.getUint32(pos);
          pos += 4;
          break;
        case 0xde:
          if (!need(2)) return "truncated length";
          items = view.getUint16(pos) * 2;
          pos += 2;
          break;
        case 0xdf:
          if (!need(4)) return "truncated length";
          items = view.getUint32(pos) * 2;
          pos += 4;
          break;
        default:
          return `invalid MessagePack byte 0x${head.toString(16)}`;
      }
    }
    if (items >= 0) {
      if (items > limits.maxLength) {
        return `a collection of ${items} items exceeds the limit of ${limits.maxLength}`;
      }
      if (items > end - pos) {
        return `a collection declares ${items} items but only ${end - pos} bytes follow`;
      }
      if (items > 0) {
        if (pending.length >= limits.maxDepth) {
          return `values nest deeper than the limit of ${limits.maxDepth} levels`;
        }
        pending.push(items);
      }
    } else {
      if (!need(skip)) return "a value is longer than the message";
      pos += skip;
    }
  }
  return undefined;
}
