// A wallet paying Solana Pay Transaction Requests served by paywatch, with the official
// clients: each link is parsed by both parseURL (@solana/pay 1.x on kit, 0.2 on web3.js),
// fetched by both fetchTransaction, and the web3.js one is signed by the customer's keypair
// and sent to the chain. Run by tests/watcher/test_txrequest_js.py as
//   node txrequest_flow.mjs <rpc-url> <ws-url> <input.json> <output.json>
// where input.json is [{"url": "solana:https://...", "secret": [64 bytes]}, ...]. Writes one
// JSON object to output.json; exits non-zero on any failure.
import { readFileSync, writeFileSync } from 'node:fs';
import { Connection, Keypair, sendAndConfirmTransaction } from '@solana/web3.js';
import { fetchTransaction as fetchLegacy, parseURL as parseLegacy } from '@solana/pay-legacy';
import { fetchTransaction, parseURL } from '@solana/pay';
import { address, createSolanaRpc, getCompiledTransactionMessageDecoder } from '@solana/kit';

const [rpcUrl, wsUrl, inputPath, outputPath] = process.argv.slice(2);
const connection = new Connection(rpcUrl, { commitment: 'confirmed', wsEndpoint: wsUrl });
const rpc = createSolanaRpc(rpcUrl);

async function pay({ url, secret }) {
  const payer = Keypair.fromSecretKey(Uint8Array.from(secret));
  const legacyParsed = parseLegacy(url);
  const kitParsed = parseURL(url);
  if (!('link' in legacyParsed) || !('link' in kitParsed)) {
    throw new Error(`not read as a transaction request: ${url}`);
  }
  const link = kitParsed.link.toString();
  if (legacyParsed.link.toString() !== link) throw new Error('the two parsers disagree');

  // @solana/pay 1.x: fetch and decode; the account must be the fee payer and only signer.
  const kitTx = await fetchTransaction(rpc, address(payer.publicKey.toBase58()), link);
  const kitMessage = getCompiledTransactionMessageDecoder().decode(kitTx.messageBytes);
  const kitSigners = Object.keys(kitTx.signatures);

  // @solana/pay 0.2 on web3.js: fetch, sign with the customer's key, send, confirm.
  const tx = await fetchLegacy(connection, payer.publicKey, link);
  const signature = await sendAndConfirmTransaction(connection, tx, [payer],
    { commitment: 'confirmed' });
  return {
    link,
    signature,
    kitFeePayer: kitMessage.staticAccounts[0],
    kitSigners,
    legacyFeePayer: tx.feePayer.toBase58(),
    legacySigners: tx.signatures.map((s) => s.publicKey.toBase58()),
    programs: tx.instructions.map((ix) => ix.programId.toBase58()),
  };
}

async function main() {
  const requests = JSON.parse(readFileSync(inputPath, 'utf8'));
  const paid = [];
  for (const request of requests) paid.push(await pay(request));
  writeFileSync(outputPath, JSON.stringify({ ok: true, paid }));
}

main().then(() => process.exit(0), (err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
