module.exports = { ...require("../../jest.preset.js"), displayName: "pex", rootDir: __dirname };
