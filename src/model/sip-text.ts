/**
 * Text that came from SIP (Request-URI and From users, Call-ID, the trusted account header) on its way into
 * CDRs, logs and events. RFC 3261 escapes are decoded before admission reads a user (`%23` is the `#` of a
 * tech prefix), so `%00`, `%0D%0A` and the like would otherwise arrive as raw control bytes. Every C0
 * control (U+0000-U+001F), DEL (U+007F) and C1 control (U+0080-U+009F) is replaced by U+FFFD, the
 * replacement character: one character for one, so lengths and limits still hold, and unambiguous, where an
 * escape like `\x00` could not be told from the same four characters sent literally.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export const CONTROL_REPLACEMENT = '\ufffd';

export function withoutControls(text: string): string {
  return text.replace(CONTROL, CONTROL_REPLACEMENT);
}

