// The wallet flow and the merchant flow of @solana/pay 0.2 on @solana/web3.js 1.x, against
// the RPC and WebSocket URLs given on the command line. Prints one JSON line; exits non-zero
// on any failure. Run by tests/simnet/test_js_clients.py.
import {
  Connection, Keypair, LAMPORTS_PER_SOL, sendAndConfirmTransaction,
} from '@solana/web3.js';
import {
  createTransfer, encodeURL, findReference, parseURL, validateTransfer,
} from '@solana/pay-legacy';
import { createMint, getOrCreateAssociatedTokenAccount, mintTo } from '@solana/spl-token';
import BigNumber from 'bignumber.js';

const [rpcUrl, wsUrl] = process.argv.slice(2);
const connection = new Connection(rpcUrl, { commitment: 'confirmed', wsEndpoint: wsUrl });

async function funded(keypair, sol) {
  const sig = await connection.requestAirdrop(keypair.publicKey, sol * LAMPORTS_PER_SOL);
  const latest = await connection.getLatestBlockhash();
  await connection.confirmTransaction({ signature: sig, ...latest }, 'confirmed');
  return keypair;
}

// Wallet: parse the URL, build the transfer, sign, send, wait. Merchant: find, validate.
async function payAndValidate(payer, request) {
  const url = encodeURL(request);
  const parsed = parseURL(url);
  const tx = await createTransfer(connection, payer.publicKey, {
    recipient: parsed.recipient, amount: parsed.amount, splToken: parsed.splToken,
    reference: parsed.reference, memo: parsed.memo,
  });
  const signature = await sendAndConfirmTransaction(connection, tx, [payer],
    { commitment: 'confirmed' });
  const found = await findReference(connection, request.reference, { finality: 'confirmed' });
  if (found.signature !== signature) throw new Error('findReference found another signature');
  await validateTransfer(connection, signature, {
    recipient: request.recipient, amount: request.amount, splToken: request.splToken,
    reference: request.reference, memo: request.memo,
  }, { commitment: 'confirmed' });
  return { url: url.toString(), signature };
}

async function main() {
  const payer = await funded(Keypair.generate(), 5);
  // @solana/pay 0.2's createTransfer refuses a recipient account that does not exist yet
  const merchant = (await funded(Keypair.generate(), 1)).publicKey;
  const sol = await payAndValidate(payer, {
    recipient: merchant, amount: new BigNumber('0.5'), reference: Keypair.generate().publicKey,
    label: 'Demo Shop', message: 'Thanks!', memo: 'ORD-JS-1',
  });

  // SPL: the client creates the mint and both token accounts itself through simnet.
  const mint = await createMint(connection, payer, payer.publicKey, null, 6);
  const source = await getOrCreateAssociatedTokenAccount(connection, payer, mint,
    payer.publicKey);
  await mintTo(connection, payer, mint, source.address, payer, 1_000_000_000);
  await getOrCreateAssociatedTokenAccount(connection, payer, mint, merchant);
  const spl = await payAndValidate(payer, {
    recipient: merchant, amount: new BigNumber('12.5'), splToken: mint,
    reference: Keypair.generate().publicKey,
  });
  console.log(JSON.stringify({ ok: true, sol, spl, mint: mint.toBase58(),
    merchant: merchant.toBase58() }));
}

main().then(() => process.exit(0), (err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
