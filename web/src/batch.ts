// Reading many cases by id: BatchGetCases takes at most 1,000 ids (AIP-231), so a longer list is asked in
// chunks of that size. Kept apart from the transport so that `npm test` checks it without a server.

/** The server's limit of ids per BatchGetCases. */
export const BATCH_SIZE = 1000;

/** The items of `ids` in their order, asked `BATCH_SIZE` at a time (the chunks at once; the transport queues
 *  them). A chunk whose answer exceeds the server's message size (`tooLarge`: long contents, 4 MB by
 *  default) is asked again in halves, down to single ids, rather than the limit being raised for one page. */
export async function getInChunks<T>(
  ids: readonly string[],
  get: (ids: string[]) => Promise<T[]>,
  tooLarge: (e: unknown) => boolean,
): Promise<T[]> {
  const ask = async (part: string[]): Promise<T[]> => {
    try {
      return await get(part);
    } catch (e) {
      if (part.length < 2 || !tooLarge(e)) throw e;
      const half = Math.ceil(part.length / 2);
      const [a, b] = await Promise.all([ask(part.slice(0, half)), ask(part.slice(half))]);
      return [...a, ...b];
    }
  };
  const chunks: string[][] = [];
  for (let i = 0; i < ids.length; i += BATCH_SIZE) chunks.push(ids.slice(i, i + BATCH_SIZE));
  return (await Promise.all(chunks.map(ask))).flat();
}
