// Compiles tests/fixtures/chain/TestUSDC.sol with solc-js (offline) into
// tests/fixtures/chain/TestUSDC.json (abi + bytecode). Run once after changing the source:
//   node tools/build-usdc.js
const fs = require("fs");
const path = require("path");
const solc = require("solc");
const dir = path.join(__dirname, "..", "tests", "fixtures", "chain");
const source = fs.readFileSync(path.join(dir, "TestUSDC.sol"), "utf8");
const input = {
  language: "Solidity",
  sources: { "TestUSDC.sol": { content: source } },
  settings: { optimizer: { enabled: true, runs: 200 }, outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === "error");
if (errors.length) { console.error(errors); process.exit(1); }
const c = out.contracts["TestUSDC.sol"].TestUSDC;
fs.writeFileSync(path.join(dir, "TestUSDC.json"),
  JSON.stringify({ compiler: solc.version(), abi: c.abi, bytecode: "0x" + c.evm.bytecode.object }, null, 1) + "\n");
console.log("wrote TestUSDC.json with", solc.version());
