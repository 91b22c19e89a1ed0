// SPDX-License-Identifier: MIT
// ETH sent by a contract, as a smart wallet (Safe, an ERC-4337 account) or an exchange's
// hot-wallet contract sends it: the payer calls the Forwarder, and the Forwarder pays the
// recipient by an internal CALL. No top-level transaction reaches the recipient, so only a
// trace of the block shows the payment. Compiled by tests/js/compile_sol.mjs (solc-js).
pragma solidity ^0.8.20;

contract Forwarder {
    event Kept(address to, uint256 value);

    // Pays `to` everything sent along, inside this call.
    function forward(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "forward failed");
    }

    // Pays `to` and then reverts: the inner CALL itself succeeded, but its parent frame
    // reverted, so the value never moved.
    function forwardThenRevert(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "forward failed");
        revert("changed my mind");
    }

    // The outer transaction succeeds while the inner payment is undone: it runs
    // forwardThenRevert as a sub-call and keeps the ETH when that reverts.
    function forwardTryCatch(address payable to) external payable {
        try this.forwardThenRevert{value: msg.value}(to) {
        } catch {
            emit Kept(to, msg.value);
        }
    }

    // Pays each recipient its amount, several internal transfers in one transaction.
    function split(address payable[] calldata to, uint256[] calldata amounts) external payable {
        for (uint256 i = 0; i < to.length; i++) {
            (bool ok, ) = to[i].call{value: amounts[i]}("");
            require(ok, "split failed");
        }
    }
}
