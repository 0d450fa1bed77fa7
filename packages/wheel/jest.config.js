module.exports = { ...require("../../jest.preset.js"), displayName: "wheel", rootDir: __dirname };
