// Compiles one Solidity file with solc-js and prints {abi, bytecode} of the named contract.
// usage: node compile_sol.mjs path/to/File.sol ContractName
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import solc from "solc";

const [path, contract] = process.argv.slice(2);
const source = basename(path);
const input = {
  language: "Solidity",
  sources: { [source]: { content: readFileSync(path, "utf8") } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
const built = output.contracts[source][contract];
console.log(JSON.stringify({ abi: built.abi, bytecode: "0x" + built.evm.bytecode.object }));
