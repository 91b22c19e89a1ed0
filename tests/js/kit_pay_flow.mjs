// The wallet flow and the merchant flow of @solana/pay 1.x on @solana/kit, against the RPC and
// WebSocket URLs given on the command line: createTransfer returns instructions that we compose
// into a v0 message. Prints one JSON line; exits non-zero on any failure.
import {
  address, airdropFactory, appendTransactionMessageInstructions, createSolanaRpc,
  createSolanaRpcSubscriptions, createTransactionMessage, generateKeyPairSigner,
  getSignatureFromTransaction, lamports, pipe, sendAndConfirmTransactionFactory,
  setTransactionMessageFeePayerSigner, setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
} from '@solana/kit';
import { getCreateAccountInstruction } from '@solana-program/system';
import {
  TOKEN_PROGRAM_ADDRESS, findAssociatedTokenPda, getCreateAssociatedTokenIdempotentInstruction,
  getInitializeMint2Instruction, getMintSize, getMintToInstruction,
} from '@solana-program/token';
import {
  createTransfer, encodeURL, findReference, parseURL, validateTransfer,
} from '@solana/pay';

const [rpcUrl, wsUrl] = process.argv.slice(2);
const rpc = createSolanaRpc(rpcUrl);
const rpcSubscriptions = createSolanaRpcSubscriptions(wsUrl);
const sendAndConfirm = sendAndConfirmTransactionFactory({ rpc, rpcSubscriptions });
const airdrop = airdropFactory({ rpc, rpcSubscriptions });

async function send(payer, instructions) {
  const { value: latest } = await rpc.getLatestBlockhash({ commitment: 'confirmed' }).send();
  const message = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayerSigner(payer, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash(latest, m),
    (m) => appendTransactionMessageInstructions(instructions, m),
  );
  const signed = await signTransactionMessageWithSigners(message);
  await sendAndConfirm(signed, { commitment: 'confirmed' });
  return getSignatureFromTransaction(signed);
}

async function payAndValidate(payer, request) {
  const url = encodeURL(request);
  const parsed = parseURL(url);
  const instructions = await createTransfer(rpc, payer, {
    recipient: parsed.recipient, amount: parsed.amount, splToken: parsed.splToken,
    reference: parsed.reference, memo: parsed.memo,
  });
  const signature = await send(payer, instructions);
  const found = await findReference(rpc, request.reference, { finality: 'confirmed' });
  if (found.signature !== signature) throw new Error('findReference found another signature');
  await validateTransfer(rpc, signature, {
    recipient: request.recipient, amount: request.amount, splToken: request.splToken,
    reference: request.reference, memo: request.memo,
  }, { commitment: 'confirmed' });
  return { url: url.toString(), signature };
}

async function createFundedMint(payer, owners) {
  const mint = await generateKeyPairSigner();
  const space = BigInt(getMintSize());
  const rent = await rpc.getMinimumBalanceForRentExemption(space).send();
  await send(payer, [
    getCreateAccountInstruction({ payer, newAccount: mint, lamports: rent, space,
      programAddress: TOKEN_PROGRAM_ADDRESS }),
    getInitializeMint2Instruction({ mint: mint.address, decimals: 6,
      mintAuthority: payer.address }),
  ]);
  for (const owner of owners) {
    const [ata] = await findAssociatedTokenPda({ owner, mint: mint.address,
      tokenProgram: TOKEN_PROGRAM_ADDRESS });
    await send(payer, [
      getCreateAssociatedTokenIdempotentInstruction({ payer, owner, mint: mint.address, ata }),
      getMintToInstruction({ mint: mint.address, token: ata, mintAuthority: payer,
        amount: 1_000_000_000n }),
    ]);
  }
  return mint.address;
}

async function main() {
  const payer = await generateKeyPairSigner();
  const merchant = await generateKeyPairSigner();
  await airdrop({ recipientAddress: payer.address, lamports: lamports(5_000_000_000n),
    commitment: 'confirmed' });
  await airdrop({ recipientAddress: merchant.address, lamports: lamports(1_000_000_000n),
    commitment: 'confirmed' });
  const sol = await payAndValidate(payer, {
    recipient: merchant.address, amount: 0.25,
    reference: (await generateKeyPairSigner()).address, memo: 'ORD-KIT-1',
  });
  const mint = await createFundedMint(payer, [payer.address, merchant.address]);
  const spl = await payAndValidate(payer, {
    recipient: merchant.address, amount: 12.5, splToken: address(mint),
    reference: (await generateKeyPairSigner()).address,
  });
  console.log(JSON.stringify({ ok: true, sol, spl, mint, merchant: merchant.address }));
}

main().then(() => process.exit(0), (err) => {
  console.error(err && err.stack ? err.stack : String(err));
  if (err && err.context) console.error(JSON.stringify(err.context, (k, v) =>
    (typeof v === 'bigint' ? v.toString() : v)));
  process.exit(1);
});
