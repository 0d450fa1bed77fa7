module.exports = { ...require("../../jest.preset.js"), displayName: "fs", rootDir: __dirname };
