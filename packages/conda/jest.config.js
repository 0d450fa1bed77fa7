module.exports = { ...require("../../jest.preset.js"), displayName: "conda", rootDir: __dirname };
