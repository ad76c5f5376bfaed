/* A shared object that is not a backend plugin (no llm_backend_plugin_entry): the loader must
 * refuse it with a reason, not crash. */
#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int not_a_plugin(void);
int not_a_plugin(void) { return 42; }
