// Parses a Solana Pay URL with both official parsers and prints what each read, as JSON.
import { parseURL as parseLegacy } from '@solana/pay-legacy';
import { parseURL } from '@solana/pay';

const url = process.argv[2];
const legacy = parseLegacy(url);
const kit = parseURL(url);
const refs = (r) => (r === undefined ? [] : (Array.isArray(r) ? r : [r]).map(String));
console.log(JSON.stringify({
  legacy: { recipient: legacy.recipient.toBase58(), amount: legacy.amount?.toString(),
    splToken: legacy.splToken?.toBase58(), reference: refs(legacy.reference?.map((k) => k.toBase58())),
    label: legacy.label, message: legacy.message, memo: legacy.memo },
  kit: { recipient: String(kit.recipient), amount: kit.amount === undefined ? undefined : String(kit.amount),
    splToken: kit.splToken && String(kit.splToken), reference: refs(kit.reference),
    label: kit.label, message: kit.message, memo: kit.memo },
}));
