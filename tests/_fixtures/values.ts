/** CPython's `_TestRemoteManager.test_remote` values, sent by a worker and checked by the test. */
export const REMOTE_VALUES: readonly unknown[] = [
  "hello world",
  null,
  true,
  2.25,
  "hallå världen",
  "привіт світ",
  new Uint8Array([0x68, 0x61, 0x6c, 0x6c, 0xe5]),
];
